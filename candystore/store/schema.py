"""The tables of the event store (SQLAlchemy Core), shared by the repository and the migrations.

``events`` is Holyfields' generated envelope table plus the store's own columns:

- ``document``: the envelope as JSON text, served back by ``get`` (the exact round trip);
  the JSON columns beside it are copies for querying and indexing only.
- ``content_hash``: SHA-256 of the envelope with sorted keys, to tell a redelivered
  duplicate from a different event that reuses an id.
- ``source_app``, ``agent_name``: denormalised from ``source.app`` and
  ``agent_context.name`` so their filters use a plain B-tree index.

``causation`` holds one row per (parent, child) link taken from ``correlation_ids``;
the parent need not be stored (yet), so there is no foreign key on it.

``dead_letters`` keeps what Bloodbank dead-lettered (``dlq.all``), with its headers and raw body,
and who replayed or discarded it, when and why (rows are never deleted: they are the audit trail).

``subscriptions`` holds the outbound delivery subscriptions made through the API (those of
``DELIVERIES_FILE`` are read from the file); ``deliveries`` remembers each event a subscription
delivered, so that a copy arriving later is not sent again.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from holyfields.generated.sql.envelope import envelope_table

__all__ = ["causation", "dead_letters", "deliveries", "events", "exists_on", "metadata", "subscriptions"]

metadata = MetaData(naming_convention={"pk": "pk_%(table_name)s"})

events = envelope_table(
    metadata,
    "events",
    Column("stored_at", DateTime(timezone=True), nullable=False, comment="When Candystore committed the event (UTC)."),
    Column("source_app", Text(), nullable=True, comment="source.app, copied out for filtering."),
    Column("agent_name", Text(), nullable=True, comment="agent_context.name, copied out for filtering."),
    Column("content_hash", String(64), nullable=False, comment="SHA-256 of the envelope with sorted keys."),
    Column("document", Text(), nullable=False, comment="The envelope as published (timestamp in UTC), as JSON text."),
)

# Every filter of GET /events ends in (timestamp, event_id): the index serves the filter and the cursor order.
Index(
    "ix_events_event_type_timestamp",
    events.c.event_type,
    events.c.timestamp,
    events.c.event_id,
    # text_pattern_ops lets a `retail.%` prefix (the `*` wildcard) use the index whatever the collation.
    postgresql_ops={"event_type": "text_pattern_ops"},
)
Index("ix_events_timestamp", events.c.timestamp, events.c.event_id)
Index("ix_events_source_app_timestamp", events.c.source_app, events.c.timestamp, events.c.event_id)
Index("ix_events_agent_name_timestamp", events.c.agent_name, events.c.timestamp, events.c.event_id)
Index(
    "ix_events_payload_gin",
    events.c.payload,
    postgresql_using="gin",
    postgresql_ops={"payload": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")

causation = Table(
    "causation",
    metadata,
    Column("parent_id", Uuid(), nullable=False, comment="An id from the child's correlation_ids (may not be stored)."),
    Column("child_id", Uuid(), nullable=False, comment="The event that named parent_id as a parent."),
    PrimaryKeyConstraint("parent_id", "child_id"),
    Index("ix_causation_child_id_parent_id", "child_id", "parent_id"),
)


def exists_on(item: object, dialect: str) -> bool:
    """Whether a schema item is created on ``dialect`` (the GIN index exists on PostgreSQL only)."""
    condition = getattr(item, "_ddl_if", None)  # set by .ddl_if(); SQLAlchemy has no public reader
    return condition is None or condition.dialect in (None, dialect)


# Dead letters drained from Bloodbank's dlq.all. ``fingerprint`` (SHA-256 of body and headers) absorbs a
# redelivery of the same dead letter; every filter of GET /dlq ends in received_at.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Uuid(), nullable=False, comment="The dead letter's own id (a new UUID when it is kept)."),
    Column("event_id", Uuid(), nullable=True, comment="The event's id, from the message id or the body, if known."),
    Column("consumer", Text(), nullable=True, comment="The consumer that gave up on it (x-bloodbank-consumer)."),
    Column("event_type", Text(), nullable=True, comment="The event type, when the body decodes."),
    Column("error", Text(), nullable=True, comment="Why it failed (x-bloodbank-error)."),
    Column("attempts", Integer(), nullable=True, comment="Handling attempts before it failed (x-bloodbank-attempts)."),
    Column("failed_at", DateTime(timezone=True), nullable=True, comment="When it failed (x-bloodbank-failed-at)."),
    Column("routing_key", Text(), nullable=False, comment="The routing key it reached dlq.all with."),
    Column(
        "headers",
        JSON().with_variant(JSONB(), "postgresql"),
        nullable=False,
        comment="Every message header, as received.",
    ),
    Column("body", Text(), nullable=False, comment="The message body as text (base64 when body_encoding says so)."),
    Column("body_encoding", Text(), nullable=False, comment="'utf-8', or 'base64' for a body that is not UTF-8."),
    Column("state", Text(), nullable=False, comment="open, resolved (replayed) or discarded."),
    Column("received_at", DateTime(timezone=True), nullable=False, comment="When Candystore committed it (UTC)."),
    Column("fingerprint", String(64), nullable=False, comment="SHA-256 of body and headers: one row per dead letter."),
    Column("resolved_at", DateTime(timezone=True), nullable=True, comment="When it was replayed or discarded (UTC)."),
    Column("resolved_by", Text(), nullable=True, comment="Who replayed or discarded it."),
    Column("resolution_note", Text(), nullable=True, comment="Why it was discarded (or a replay's note)."),
    Column(
        "replayed_event_id",
        Uuid(),
        nullable=True,
        comment="The id of the event a replay published to the main exchange.",
    ),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("fingerprint", name="uq_dead_letters_fingerprint"),
    Index("ix_dead_letters_state_received_at", "state", "received_at"),
    Index("ix_dead_letters_consumer_received_at", "consumer", "received_at"),
    Index("ix_dead_letters_event_type_received_at", "event_type", "received_at"),
    Index("ix_dead_letters_received_at", "received_at"),
    Index("ix_dead_letters_event_id", "event_id"),
)

# Outbound delivery subscriptions made through the API; the secret is kept as given: it signs every request.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("name", Text(), nullable=False, comment="The subscription's name; its consumer is delivery.{name}."),
    Column("patterns", JSON(), nullable=False, comment="Event-type patterns it is bound to (JSON list)."),
    Column("filters", JSON(), nullable=False, comment="Payload conditions every delivered event meets (JSON list)."),
    Column("url", Text(), nullable=False, comment="Where events are POSTed (http or https)."),
    Column("secret", Text(), nullable=False, comment="The Standard Webhooks secret (whsec_…) signing each request."),
    Column("retry_delays", JSON(), nullable=True, comment="Its own retry tiers in seconds; null: the default."),
    Column("concurrency", Integer(), nullable=True, comment="Requests in flight at most; null: the default."),
    Column("timeout", Float(), nullable=True, comment="Seconds a request may take; null: the default."),
    Column("enabled", Boolean(), nullable=False, comment="Whether events are delivered (false: they wait)."),
    Column("disabled_reason", Text(), nullable=True, comment="Why it was disabled (e.g. the receiver answered 410)."),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="When it was created (UTC)."),
    Column("created_by", Text(), nullable=False, comment="Who created it."),
    Column("updated_at", DateTime(timezone=True), nullable=False, comment="When it last changed (UTC)."),
    Column("updated_by", Text(), nullable=False, comment="Who changed it last."),
    PrimaryKeyConstraint("name"),
)

# One row per event a subscription delivered (2xx), written before the delivery is acknowledged.
deliveries = Table(
    "deliveries",
    metadata,
    Column("subscription", Text(), nullable=False, comment="The subscription that delivered it."),
    Column("event_id", Uuid(), nullable=False, comment="The event delivered (its webhook-id)."),
    Column("status", Integer(), nullable=False, comment="The HTTP status the receiver answered."),
    Column("attempts", Integer(), nullable=False, comment="The attempt that succeeded (1: the first)."),
    Column("delivered_at", DateTime(timezone=True), nullable=False, comment="When the receiver answered (UTC)."),
    PrimaryKeyConstraint("subscription", "event_id"),
    Index("ix_deliveries_delivered_at", "delivered_at"),
)
