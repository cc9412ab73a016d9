"""The API's response models, so that ``/openapi.json`` documents every answer.

Conflicts and OKR figures are built from the JSON the store and :mod:`visibility.domain.okr` give
(``as_json``), so the answers keep their fields, order and formats; these models check and
document that JSON. Error answers have the one shape of :mod:`visibility.api.errors`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from visibility.domain.okr import Okr
from visibility.domain.records import ConflictRecord
from visibility.domain.status import Status
from visibility.domain.transitions import Action
from visibility.rules import EscalationLevel, Severity
from visibility.store import ConflictPage, HourCounts
from visibility.store.actions import Outcome, Result

__all__ = [
    "ActionModel",
    "BulkActionModel",
    "BulkResultModel",
    "ConflictDetailModel",
    "ConflictModel",
    "ConflictPageModel",
    "EscalationModel",
    "OkrModel",
    "PeriodModel",
    "TargetModel",
    "TrendHourModel",
    "TrendModel",
]


class EscalationModel(BaseModel):
    """Who an unresolved conflict was escalated to, and when the next step falls due."""

    level: EscalationLevel | None = Field(description="null until the first escalation")
    escalated_to: str | None
    escalated_at: datetime | None
    next_at: datetime | None = Field(description="when the next step falls due; null when none is left or resolved")


class ActionModel(BaseModel):
    """One thing done to a conflict: by whom, when, with what note, and the status it left."""

    action: Literal["acknowledge", "fix", "accept", "dispute", "escalate"] = Field(
        description="a person's action, or `escalate` (recorded by the layer itself)"
    )
    actor: str
    note: str | None
    at: datetime
    status_after: Status


class ConflictModel(BaseModel):
    """A conflict: the rule it breaks, where, between which teams, its evidence and where it stands."""

    conflict_id: uuid.UUID
    rule: str
    rule_version: int
    severity: Severity
    status: Status
    product_id: str
    store_id: str
    teams: list[str] = Field(description="the teams taking part, sorted")
    source_event_ids: list[str] = Field(description="the events that make up the conflict, the opening ones first")
    occurred_at: datetime = Field(description="when the conflict became true (its latest source event)")
    detected_at: datetime = Field(description="when the detector opened it")
    last_occurred_at: datetime
    last_detected_at: datetime
    occurrence_count: int = Field(description="how many times it was seen while unresolved")
    customer_facing: bool = Field(description="whether a customer saw at least one of the offers")
    details: dict[str, Any] = Field(
        description="the evidence of the latest occurrence (`summary`, `observations`, …), "
        "as in `visibility.conflict.detected.v1`"
    )
    detected_event_id: uuid.UUID = Field(description="the `visibility.conflict.detected.v1` event published for it")
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    escalation: EscalationModel

    @classmethod
    def of(cls, record: ConflictRecord) -> ConflictModel:
        return cls.model_validate(record.as_json())


class ConflictDetailModel(ConflictModel):
    """A conflict with every action taken on it, oldest first."""

    actions: list[ActionModel]

    @classmethod
    def of(cls, record: ConflictRecord) -> ConflictDetailModel:
        return cls.model_validate(record.as_json(with_actions=True))


class ConflictPageModel(BaseModel):
    items: list[ConflictModel]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page; null on the last page")

    @classmethod
    def of(cls, page: ConflictPage) -> ConflictPageModel:
        return cls(items=[ConflictModel.of(item) for item in page.items], next_cursor=page.next_cursor)


class BulkResultModel(BaseModel):
    """What an action on many conflicts did to one of them."""

    conflict_id: uuid.UUID
    outcome: Outcome = Field(description="applied, not_found, or refused (the action does not apply to its status)")
    status: Status | None = Field(description="the conflict's status after the request; null when not found")
    message: str | None = Field(description="why it was not applied; null when applied")

    @classmethod
    def of(cls, result: Result) -> BulkResultModel:
        return cls(
            conflict_id=result.conflict_id,
            outcome=result.outcome,
            status=None if result.conflict is None else result.conflict.status,
            message=result.message,
        )


class BulkActionModel(BaseModel):
    """The outcome of one action on many conflicts, one result per id in the order given."""

    action: Action
    applied: int = Field(description="how many conflicts the action was applied to")
    results: list[BulkResultModel]

    @classmethod
    def of(cls, action: Action, results: list[Result]) -> BulkActionModel:
        items = [BulkResultModel.of(result) for result in results]
        applied = sum(1 for item in items if item.outcome is Outcome.APPLIED)
        return cls(action=action, applied=applied, results=items)


class PeriodModel(BaseModel):
    since: datetime
    until: datetime


class TargetModel(BaseModel):
    target: str = Field(description="the comparison and the value, e.g. `< 2`", examples=["< 2"])
    met: bool | None = Field(description="null when there is nothing to measure yet")


class OkrModel(BaseModel):
    """The shared OKR "Accuracy to Reality" over the period; a figure with nothing to measure is null."""

    period: PeriodModel
    conflict_rate_percent: float | None = Field(description="events in conflict, in percent of the events checked")
    time_to_detect_mean_seconds: float | None
    time_to_detect_p95_seconds: float | None
    resolution_rate_24h_percent: float | None = Field(
        description="conflicts resolved within the SLA (24 h by default), in percent of those opened in the period "
        "whose SLA has run out (`resolutions_due`); null when none is due yet (every conflict is younger than the "
        "SLA), even when some are already resolved"
    )
    customer_impact_incidents_7d: int = Field(description="conflicts opened in the last 7 days that a customer saw")
    disputed_share_percent: float | None = Field(description="resolutions that disputed the detection, in percent")
    events: int = Field(description="retail events checked")
    conflicting_events: int = Field(description="events that produced a conflict finding")
    conflicts_opened: int
    resolutions_due: int = Field(
        description="conflicts opened in the period whose SLA has run out: what `resolution_rate_24h_percent` is "
        "measured over"
    )
    unresolved: int = Field(description="conflicts unresolved now (whenever opened)")
    escalated: int = Field(description="unresolved conflicts escalated now")
    unverifiable: dict[str, int] = Field(description="checks that could not be made, by rule")
    targets: dict[str, TargetModel] = Field(description="each figure with a target, and whether it is met")

    @classmethod
    def of(cls, okr: Okr) -> OkrModel:
        return cls.model_validate(okr.as_json())


def _rate(conflicting: int, events: int) -> float | None:
    return round(conflicting / events * 100.0, 3) if events else None


class TrendHourModel(BaseModel):
    """One clock hour (UTC) of the detector's work."""

    hour: datetime = Field(description="the start of the hour, UTC")
    events_checked: int = Field(description="retail events the detector checked")
    conflicting_events: int = Field(description="events that produced a conflict finding (new or a repeat)")
    conflicts_opened: int = Field(description="conflicts the detector opened")
    conflict_rate: float | None = Field(
        description="`conflicting_events` in percent of `events_checked`, as the OKR's `conflict_rate_percent`; "
        "null when no event was checked"
    )

    @classmethod
    def of(cls, counts: HourCounts) -> TrendHourModel:
        return cls(
            hour=counts.hour,
            events_checked=counts.events,
            conflicting_events=counts.conflicting,
            conflicts_opened=counts.opened,
            conflict_rate=_rate(counts.conflicting, counts.events),
        )


class TrendModel(BaseModel):
    """The conflict rate per clock hour."""

    items: list[TrendHourModel] = Field(
        description="every hour of the period, oldest first, zero included; the last is the hour running now"
    )
