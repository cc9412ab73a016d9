"""The API's response and request models, so that ``/openapi.json`` documents every answer.

Events are answered with the stored JSON text (exact numbers and key order); their
models here only document them. Everything else is serialised from these models.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from candystore.api.params import Timestamp, TypePatternText
from candystore.replay import DeadLetterReplay, ReplayOutcome
from candystore.store.dead_letters import DeadLetterRecord, DeadLetterState
from candystore.store.stats import Stats
from holyfields.generated.python import EventEnvelope

__all__ = [
    "DeadLetterCounts",
    "DeadLetterFilterBody",
    "DeadLetterModel",
    "DeadLetterPageModel",
    "EventPage",
    "HourCountModel",
    "RatesModel",
    "ReplayRequest",
    "ReplayResponse",
    "ReplayResultModel",
    "SourceCountModel",
    "StatsModel",
    "TraceEdgeModel",
    "TraceModel",
    "TracePlaceholder",
    "TypeCountModel",
]

MAX_REPLAY_IDS = 1000


class EventPage(BaseModel):
    """A page of envelopes, exactly as published (timestamps in UTC)."""

    items: list[EventEnvelope]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page; null on the last page")


class TracePlaceholder(BaseModel):
    """An event named as a parent that is not stored (yet)."""

    event_id: str
    placeholder: Literal[True] = True


class TraceEdgeModel(BaseModel):
    """``child`` names ``parent`` in its ``correlation_ids``."""

    parent: str
    child: str


class TraceModel(BaseModel):
    """The causation graph around ``root``: stored events as envelopes, missing parents as placeholders."""

    root: str
    nodes: list[EventEnvelope | TracePlaceholder] = Field(
        description="the root first, then ancestors and descendants breadth first"
    )
    edges: list[TraceEdgeModel]
    ancestors: list[str]
    descendants: list[str]
    truncated: bool = Field(description="true when `max_nodes` cut the graph short")


class TypeCountModel(BaseModel):
    event_type: str
    count: int


class SourceCountModel(BaseModel):
    source_app: str | None = Field(description="`source.app`; null for events whose source names no app")
    count: int


class HourCountModel(BaseModel):
    hour: datetime = Field(description="the start of the hour, UTC")
    count: int


class RatesModel(BaseModel):
    """Events per second whose timestamp falls in the period ending now."""

    last_minute: float
    last_5_minutes: float
    last_hour: float


class DeadLetterCounts(BaseModel):
    open: int
    resolved: int
    discarded: int


class StatsModel(BaseModel):
    """Counts by type, source and hour in the window `[since, until)`, rates now, dead letters by state."""

    since: datetime
    until: datetime
    total: int
    by_type: list[TypeCountModel]
    by_source: list[SourceCountModel]
    by_hour: list[HourCountModel] = Field(description="every hour of the window, oldest first, zero included")
    rates: RatesModel
    dead_letters: DeadLetterCounts

    @classmethod
    def of(cls, stats: Stats) -> StatsModel:
        return cls(
            since=stats.since,
            until=stats.until,
            total=stats.total,
            by_type=[TypeCountModel(event_type=c.event_type, count=c.count) for c in stats.by_type],
            by_source=[SourceCountModel(source_app=c.source_app, count=c.count) for c in stats.by_source],
            by_hour=[HourCountModel(hour=c.hour, count=c.count) for c in stats.by_hour],
            rates=RatesModel(
                last_minute=stats.rates.last_minute,
                last_5_minutes=stats.rates.last_5_minutes,
                last_hour=stats.rates.last_hour,
            ),
            dead_letters=DeadLetterCounts(**{state.value: count for state, count in stats.dead_letters.items()}),
        )


class DeadLetterModel(BaseModel):
    """A dead letter kept by Candystore, with who replayed or discarded it, when and why."""

    id: str
    event_id: str | None
    consumer: str | None = Field(description="the consumer that gave up on it")
    event_type: str | None
    error: str | None = Field(description="why it failed (`x-bloodbank-error`)")
    attempts: int | None
    failed_at: datetime | None
    routing_key: str
    headers: dict[str, Any]
    body: str = Field(description="the message body; base64 when `body_encoding` is `base64`")
    body_encoding: Literal["utf-8", "base64"]
    state: DeadLetterState
    received_at: datetime = Field(description="when Candystore received it")
    resolved_at: datetime | None = Field(description="when it was replayed or discarded")
    resolved_by: str | None
    resolution_note: str | None = Field(description="why it was discarded")
    replayed_event_id: str | None = Field(description="the event a replay published")

    @classmethod
    def of(cls, record: DeadLetterRecord) -> DeadLetterModel:
        return cls.model_validate(record, from_attributes=True)


class DeadLetterPageModel(BaseModel):
    items: list[DeadLetterModel]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page; null on the last page")


class DeadLetterFilterBody(BaseModel):
    """Which open dead letters to replay; all given fields must match."""

    model_config = ConfigDict(extra="forbid")

    consumer: str | None = None
    event_type: TypePatternText | None = Field(
        default=None, description="exact, or a pattern: `*` one word, `#` zero or more words (`retail.#`)"
    )
    reason: str | None = Field(default=None, description="a piece of the error text (case-insensitive)")
    since: Timestamp | None = Field(default=None, description="received at or after")
    until: Timestamp | None = Field(default=None, description="received before")


class ReplayRequest(BaseModel):
    """Replay dead letters by `ids`, or every open one matching `filter` (up to `limit`), oldest first."""

    # Exactly one of ids and filter (checked by the route, which names the problem).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["ids"], "properties": {"ids": {"type": "array", "items": {"type": "string"}}}},
                {
                    "required": ["filter"],
                    "properties": {"filter": {"$ref": "#/components/schemas/DeadLetterFilterBody"}},
                },
            ]
        },
    )

    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who replays them (kept for audit); with API keys, the client (leave it out)",
    )
    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_REPLAY_IDS)
    filter: DeadLetterFilterBody | None = None
    limit: int = Field(default=MAX_REPLAY_IDS, ge=1, le=MAX_REPLAY_IDS, description="with `filter`: how many at most")


class ReplayResultModel(BaseModel):
    id: str
    outcome: ReplayOutcome
    event_id: str | None
    reason: str | None = Field(description="why it was not replayed")

    @classmethod
    def of(cls, result: DeadLetterReplay) -> ReplayResultModel:
        return cls(id=result.id, outcome=result.outcome, event_id=result.event_id, reason=result.reason)


class ReplayResponse(BaseModel):
    """One result per dead letter, in order; `replayed` counts those published and resolved."""

    replayed: int
    results: list[ReplayResultModel]
