"""The visibility layer's tables (SQLAlchemy Core), shared by the repository and the migrations.

Every name starts with ``visibility_``: by default the tables live in Candystore's
database, beside its own, and are migrated on their own (version table
``visibility_alembic_version``).

- ``visibility_conflicts``: one row per conflict. ``conflict_key`` (rule, entity,
  sorted teams) is unique among unresolved rows, so a key has one open conflict at most.
  ``teams_text`` (``,a,b,``) serves the team filter on both databases.
- ``visibility_conflict_actions``: who did what to a conflict, when, and their note.
- ``visibility_observations``: the detector's memory (each team's latest observation and
  the truth's, per view and entity), written in the transaction of the conflicts it
  caused, read back at start.
- ``visibility_counters``: per-minute counts (events, conflicting events, unverifiable
  checks per rule) for the OKR figures and the spike alert.
- ``visibility_outbox``: bus events to publish (detected, escalated, resolved), written in
  the transaction of their cause, so none is lost between a commit and the broker.
- ``visibility_alerts`` / ``visibility_alert_messages``: new conflicts waiting to be grouped,
  and the Slack messages to deliver, with their attempts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "UNRESOLVED",
    "alert_messages",
    "alerts",
    "conflict_actions",
    "conflicts",
    "counters",
    "metadata",
    "observations",
    "outbox",
]

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s"})

UNRESOLVED = ("open", "acknowledged")
"""Statuses of a conflict still waiting for a resolution."""

_JSON = JSON().with_variant(JSONB(), "postgresql")
_UNRESOLVED_SQL = text("status IN ('open', 'acknowledged')")

conflicts = Table(
    "visibility_conflicts",
    metadata,
    Column("conflict_id", Uuid(), nullable=False, comment="UUIDv5 of the key and the opening occurrence's events."),
    Column("conflict_key", Text(), nullable=False, comment="rule|entity values|teams: one unresolved row per key."),
    Column("rule", Text(), nullable=False),
    Column("rule_version", Integer(), nullable=False),
    Column("severity", Text(), nullable=False),
    Column("product_id", Text(), nullable=False),
    Column("store_id", Text(), nullable=False),
    Column("teams", _JSON, nullable=False, comment="Sorted team slugs."),
    Column("teams_text", Text(), nullable=False, comment="',a,b,': the teams, for the team filter."),
    Column("status", Text(), nullable=False, comment="open, acknowledged, fixed, accepted or disputed."),
    Column("source_event_ids", _JSON, nullable=False, comment="Every source event seen, opening ones first."),
    Column("occurred_at", DateTime(timezone=True), nullable=False, comment="When the conflict became true."),
    Column("detected_at", DateTime(timezone=True), nullable=False, comment="When the detector opened it."),
    Column("last_occurred_at", DateTime(timezone=True), nullable=False),
    Column("last_detected_at", DateTime(timezone=True), nullable=False),
    Column("occurrence_count", Integer(), nullable=False),
    Column("last_sources", Text(), nullable=False, comment="Sorted source ids of the latest occurrence."),
    Column("details", _JSON, nullable=False, comment="Evidence of the latest occurrence."),
    Column("customer_facing", Boolean(), nullable=False),
    Column("detected_event_id", Uuid(), nullable=False, comment="The visibility.conflict.detected.v1 event id."),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("escalation_level", Text(), nullable=True, comment="decision_authority or executive, once escalated."),
    Column("escalated_to", Text(), nullable=True),
    Column("escalated_at", DateTime(timezone=True), nullable=True),
    Column("escalation_step", Integer(), nullable=False, comment="Escalation steps taken so far."),
    Column("next_escalation_at", DateTime(timezone=True), nullable=True, comment="When the next step is due."),
    PrimaryKeyConstraint("conflict_id"),
    Index(
        "uq_visibility_conflicts_open_key",
        "conflict_key",
        unique=True,
        sqlite_where=_UNRESOLVED_SQL,
        postgresql_where=_UNRESOLVED_SQL,
    ),
    Index("ix_visibility_conflicts_detected_at", "detected_at", "conflict_id"),
    Index("ix_visibility_conflicts_status_detected_at", "status", "detected_at"),
    Index("ix_visibility_conflicts_rule_detected_at", "rule", "detected_at"),
    Index("ix_visibility_conflicts_next_escalation_at", "next_escalation_at"),
)

conflict_actions = Table(
    "visibility_conflict_actions",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True, nullable=False),
    Column(
        "conflict_id",
        Uuid(),
        ForeignKey("visibility_conflicts.conflict_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("action", Text(), nullable=False, comment="acknowledge, fix, accept, dispute or escalate."),
    Column("actor", Text(), nullable=False),
    Column("note", Text(), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_after", Text(), nullable=False),
    PrimaryKeyConstraint("id"),
    Index("ix_visibility_conflict_actions_conflict_id", "conflict_id", "id"),
)

observations = Table(
    "visibility_observations",
    metadata,
    Column("view", Text(), nullable=False, comment="source:entity fields, e.g. offer:product_id,store_id."),
    Column("entity", Text(), nullable=False, comment="The entity's field values as a JSON array."),
    Column("team", Text(), nullable=False, comment="The team; empty for the truth."),
    Column("event_id", Text(), nullable=False),
    Column("at", Float(), nullable=False, comment="The event time as epoch seconds, to forget expired observations."),
    Column("document", _JSON, nullable=False),
    PrimaryKeyConstraint("view", "entity", "team"),
    Index("ix_visibility_observations_view_at", "view", "at"),
)

counters = Table(
    "visibility_counters",
    metadata,
    Column("bucket", DateTime(timezone=True), nullable=False, comment="Start of the minute counted (UTC)."),
    Column("name", Text(), nullable=False, comment="events, conflicting, opened:RULE or unverifiable:RULE."),
    Column("value", BigInteger(), nullable=False),
    PrimaryKeyConstraint("bucket", "name"),
)

outbox = Table(
    "visibility_outbox",
    metadata,
    Column("event_id", Uuid(), nullable=False, comment="The id the event is published with (the same on a retry)."),
    Column("event_type", Text(), nullable=False),
    Column("payload", _JSON, nullable=False),
    Column("correlation_ids", _JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", Text(), nullable=True),
    PrimaryKeyConstraint("event_id"),
    Index("ix_visibility_outbox_published_at", "published_at", "created_at"),
)

alerts = Table(
    "visibility_alerts",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True, nullable=False),
    Column("rule", Text(), nullable=False),
    Column("conflict_id", Uuid(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("message_id", BigInteger(), nullable=True, comment="The message it was grouped into; null while waiting."),
    PrimaryKeyConstraint("id"),
    Index("ix_visibility_alerts_waiting", "message_id", "rule", "created_at"),
)

alert_messages = Table(
    "visibility_alert_messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), autoincrement=True, nullable=False),
    Column("kind", Text(), nullable=False, comment="conflicts (a rule's group) or spike."),
    Column("rule", Text(), nullable=True),
    Column("body", _JSON, nullable=False, comment="The Slack message, as posted."),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text(), nullable=True),
    PrimaryKeyConstraint("id"),
    Index("ix_visibility_alert_messages_due", "delivered_at", "next_attempt_at"),
)
