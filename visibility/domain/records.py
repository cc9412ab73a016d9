"""Conflicts and their actions as plain values, times in UTC: what the store hands back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from visibility.domain.status import Status

__all__ = ["ActionRecord", "ConflictRecord", "as_utc"]


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without an offset; the store writes only UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One thing done to a conflict: by whom, when, with what note, and the status it left."""

    action: str
    actor: str
    note: str | None
    at: datetime
    status_after: str

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "actor": self.actor,
            "note": self.note,
            "at": _iso(self.at),
            "status_after": self.status_after,
        }


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """A stored conflict."""

    conflict_id: uuid.UUID
    rule: str
    rule_version: int
    severity: str
    status: Status
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    source_event_ids: tuple[str, ...]
    occurred_at: datetime
    detected_at: datetime
    last_occurred_at: datetime
    last_detected_at: datetime
    occurrence_count: int
    details: dict[str, Any]
    customer_facing: bool
    detected_event_id: uuid.UUID
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation_level: str | None = None
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    escalation_step: int = 0
    next_escalation_at: datetime | None = None
    actions: tuple[ActionRecord, ...] = field(default=())

    @classmethod
    def from_row(cls, row: Any, actions: tuple[ActionRecord, ...] = ()) -> ConflictRecord:
        def moment(value: datetime | None) -> datetime | None:
            return None if value is None else as_utc(value)

        return cls(
            conflict_id=row.conflict_id,
            rule=row.rule,
            rule_version=row.rule_version,
            severity=row.severity,
            status=Status(row.status),
            product_id=row.product_id,
            store_id=row.store_id,
            teams=tuple(row.teams),
            source_event_ids=tuple(row.source_event_ids),
            occurred_at=as_utc(row.occurred_at),
            detected_at=as_utc(row.detected_at),
            last_occurred_at=as_utc(row.last_occurred_at),
            last_detected_at=as_utc(row.last_detected_at),
            occurrence_count=row.occurrence_count,
            details=dict(row.details),
            customer_facing=bool(row.customer_facing),
            detected_event_id=row.detected_event_id,
            acknowledged_at=moment(row.acknowledged_at),
            resolved_at=moment(row.resolved_at),
            escalation_level=row.escalation_level,
            escalated_to=row.escalated_to,
            escalated_at=moment(row.escalated_at),
            escalation_step=row.escalation_step,
            next_escalation_at=moment(row.next_escalation_at),
            actions=actions,
        )

    @property
    def time_to_detect(self) -> float:
        """Seconds from when the conflict became true to its detection."""
        return max((self.detected_at - self.occurred_at).total_seconds(), 0.0)

    def as_json(self, *, with_actions: bool = False) -> dict[str, Any]:
        """The item of ``GET /conflicts`` (with ``actions`` for ``GET /conflicts/{id}``)."""
        item: dict[str, Any] = {
            "conflict_id": str(self.conflict_id),
            "rule": self.rule,
            "rule_version": self.rule_version,
            "severity": self.severity,
            "status": self.status.value,
            "product_id": self.product_id,
            "store_id": self.store_id,
            "teams": list(self.teams),
            "source_event_ids": list(self.source_event_ids),
            "occurred_at": _iso(self.occurred_at),
            "detected_at": _iso(self.detected_at),
            "last_occurred_at": _iso(self.last_occurred_at),
            "last_detected_at": _iso(self.last_detected_at),
            "occurrence_count": self.occurrence_count,
            "customer_facing": self.customer_facing,
            "details": self.details,
            "detected_event_id": str(self.detected_event_id),
            "acknowledged_at": _iso(self.acknowledged_at),
            "resolved_at": _iso(self.resolved_at),
            "escalation": {
                "level": self.escalation_level,
                "escalated_to": self.escalated_to,
                "escalated_at": _iso(self.escalated_at),
                "next_at": _iso(self.next_escalation_at),
            },
        }
        if with_actions:
            item["actions"] = [action.as_json() for action in self.actions]
        return item
