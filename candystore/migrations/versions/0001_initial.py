# ruff: noqa: E501, INP001  (comments kept verbatim as in the generated table; Alembic scripts are no package)
"""The event store's tables: events (the full envelope) and causation (parent → child links).

A database in the legacy "current state" shape already has an ``events`` table (``id``,
singular ``correlation_id``, ``source`` as text). It is renamed to ``legacy_events`` first
(its indexes dropped, their names being taken by the new ones); 0002 copies its rows over.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LEGACY_COLUMNS = {"id", "event_type", "timestamp", "source", "correlation_id", "payload"}


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _set_aside_legacy_table() -> None:
    inspector = sa.inspect(op.get_bind())
    if "events" not in inspector.get_table_names():
        return
    columns = {column["name"] for column in inspector.get_columns("events")}
    if not columns >= LEGACY_COLUMNS or "event_id" in columns:
        raise RuntimeError(
            f"an `events` table exists that is neither Candystore's nor the legacy shape (columns: {sorted(columns)});"
            " move it aside before migrating"
        )
    for index in inspector.get_indexes("events"):
        if index["name"]:
            op.drop_index(index["name"], table_name="events")
    op.rename_table("events", "legacy_events")


def upgrade() -> None:
    _set_aside_legacy_table()
    op.create_table(
        "events",
        sa.Column(
            "event_id",
            sa.Uuid(),
            nullable=False,
            comment="Unique identifier of this event; the platform generates UUIDv7 (time-ordered).",
        ),
        sa.Column("event_type", sa.Text(), nullable=False, comment="Event type as {domain}.{resource}.{action}.v{N}."),
        sa.Column(
            "timestamp",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the event was created, RFC 3339 with an offset.",
        ),
        sa.Column("version", sa.Text(), nullable=False, comment="Envelope schema version (semver)."),
        sa.Column(
            "source",
            _json(),
            nullable=False,
            comment="Who or what produced an event: the host, the kind of trigger and the application.",
        ),
        sa.Column(
            "correlation_ids",
            _json(),
            nullable=False,
            comment="Ids of the parent events (causation); empty for a root event.",
        ),
        sa.Column(
            "agent_context",
            _json(),
            nullable=True,
            comment="Context of the AI agent that produced an event, kept with the event so its decisions can be audited.",
        ),
        sa.Column(
            "payload", _json(), nullable=False, comment="Event-specific payload, validated by the schema of event_type."
        ),
        sa.Column(
            "trace_context",
            _json(),
            nullable=True,
            comment="W3C trace context of the OpenTelemetry span that published the event.",
        ),
        sa.Column(
            "stored_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When Candystore committed the event (UTC).",
        ),
        sa.Column("source_app", sa.Text(), nullable=True, comment="source.app, copied out for filtering."),
        sa.Column("agent_name", sa.Text(), nullable=True, comment="agent_context.name, copied out for filtering."),
        sa.Column("content_hash", sa.String(64), nullable=False, comment="SHA-256 of the envelope with sorted keys."),
        sa.Column(
            "document", sa.Text(), nullable=False, comment="The envelope as published (timestamp in UTC), as JSON text."
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )
    op.create_index(
        "ix_events_event_type_timestamp",
        "events",
        ["event_type", "timestamp", "event_id"],
        postgresql_ops={"event_type": "text_pattern_ops"},
    )
    op.create_index("ix_events_timestamp", "events", ["timestamp", "event_id"])
    op.create_index("ix_events_source_app_timestamp", "events", ["source_app", "timestamp", "event_id"])
    op.create_index("ix_events_agent_name_timestamp", "events", ["agent_name", "timestamp", "event_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_events_payload_gin",
            "events",
            ["payload"],
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        )
    op.create_table(
        "causation",
        sa.Column(
            "parent_id",
            sa.Uuid(),
            nullable=False,
            comment="An id from the child's correlation_ids (may not be stored).",
        ),
        sa.Column("child_id", sa.Uuid(), nullable=False, comment="The event that named parent_id as a parent."),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name="pk_causation"),
    )
    op.create_index("ix_causation_child_id_parent_id", "causation", ["child_id", "parent_id"])


def downgrade() -> None:
    op.drop_table("causation")
    op.drop_table("events")
    if "legacy_events" in sa.inspect(op.get_bind()).get_table_names():
        op.rename_table("legacy_events", "events")
