# ruff: noqa: INP001  (Alembic scripts are no package)
"""The visibility tables: conflicts and their actions, the detector's memory, counters and the outboxes.

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

UNRESOLVED = sa.text("status IN ('open', 'acknowledged')")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _serial() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, *, nullable: bool = True, comment: str | None = None) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, comment=comment)


def _conflicts() -> None:
    op.create_table(
        "visibility_conflicts",
        sa.Column(
            "conflict_id", sa.Uuid(), nullable=False, comment="UUIDv5 of the key and the opening occurrence's events."
        ),
        sa.Column(
            "conflict_key", sa.Text(), nullable=False, comment="rule|product|store|teams: one unresolved row per key."
        ),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("teams", _json(), nullable=False, comment="Sorted team slugs."),
        sa.Column("teams_text", sa.Text(), nullable=False, comment="',a,b,': the teams, for the team filter."),
        sa.Column("status", sa.Text(), nullable=False, comment="open, acknowledged, fixed, accepted or disputed."),
        sa.Column("source_event_ids", _json(), nullable=False, comment="Every source event seen, opening ones first."),
        _moment("occurred_at", nullable=False, comment="When the conflict became true."),
        _moment("detected_at", nullable=False, comment="When the detector opened it."),
        _moment("last_occurred_at", nullable=False),
        _moment("last_detected_at", nullable=False),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("last_sources", sa.Text(), nullable=False, comment="Sorted source ids of the latest occurrence."),
        sa.Column("details", _json(), nullable=False, comment="Evidence of the latest occurrence."),
        sa.Column("customer_facing", sa.Boolean(), nullable=False),
        sa.Column(
            "detected_event_id", sa.Uuid(), nullable=False, comment="The visibility.conflict.detected.v1 event id."
        ),
        _moment("acknowledged_at"),
        _moment("resolved_at"),
        sa.Column(
            "escalation_level", sa.Text(), nullable=True, comment="decision_authority or executive, once escalated."
        ),
        sa.Column("escalated_to", sa.Text(), nullable=True),
        _moment("escalated_at"),
        sa.Column("escalation_step", sa.Integer(), nullable=False, comment="Escalation steps taken so far."),
        _moment("next_escalation_at", comment="When the next step is due."),
        sa.PrimaryKeyConstraint("conflict_id", name="pk_visibility_conflicts"),
    )
    op.create_index(
        "uq_visibility_conflicts_open_key",
        "visibility_conflicts",
        ["conflict_key"],
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )
    for name, columns in {
        "ix_visibility_conflicts_detected_at": ["detected_at", "conflict_id"],
        "ix_visibility_conflicts_status_detected_at": ["status", "detected_at"],
        "ix_visibility_conflicts_rule_detected_at": ["rule", "detected_at"],
        "ix_visibility_conflicts_next_escalation_at": ["next_escalation_at"],
    }.items():
        op.create_index(name, "visibility_conflicts", columns)
    op.create_table(
        "visibility_conflict_actions",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("conflict_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False, comment="acknowledge, fix, accept, dispute or escalate."),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _moment("at", nullable=False),
        sa.Column("status_after", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conflict_id"],
            ["visibility_conflicts.conflict_id"],
            name="fk_visibility_conflict_actions_conflict_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visibility_conflict_actions"),
    )
    op.create_index("ix_visibility_conflict_actions_conflict_id", "visibility_conflict_actions", ["conflict_id", "id"])


def _memory() -> None:
    op.create_table(
        "visibility_offers",
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, comment="surfaced_at as epoch seconds, to forget expired offers."),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "product_id", "team", name="pk_visibility_offers"),
    )
    op.create_index("ix_visibility_offers_at", "visibility_offers", ["at"])
    op.create_table(
        "visibility_truths",
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, comment="as_of as epoch seconds."),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "product_id", name="pk_visibility_truths"),
    )
    op.create_table(
        "visibility_counters",
        _moment("bucket", nullable=False, comment="Start of the minute counted (UTC)."),
        sa.Column("name", sa.Text(), nullable=False, comment="events, conflicting, opened:RULE or unverifiable:RULE."),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "name", name="pk_visibility_counters"),
    )


def _outboxes() -> None:
    op.create_table(
        "visibility_outbox",
        sa.Column(
            "event_id", sa.Uuid(), nullable=False, comment="The id the event is published with (the same on a retry)."
        ),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("correlation_ids", _json(), nullable=False),
        _moment("created_at", nullable=False),
        _moment("published_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_visibility_outbox"),
    )
    op.create_index("ix_visibility_outbox_published_at", "visibility_outbox", ["published_at", "created_at"])
    op.create_table(
        "visibility_alerts",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("conflict_id", sa.Uuid(), nullable=False),
        _moment("created_at", nullable=False),
        sa.Column(
            "message_id", sa.BigInteger(), nullable=True, comment="The message it was grouped into; null while waiting."
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visibility_alerts"),
    )
    op.create_index("ix_visibility_alerts_waiting", "visibility_alerts", ["message_id", "rule", "created_at"])
    op.create_table(
        "visibility_alert_messages",
        sa.Column("id", _serial(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False, comment="conflicts (a rule's group) or spike."),
        sa.Column("rule", sa.Text(), nullable=True),
        sa.Column("body", _json(), nullable=False, comment="The Slack message, as posted."),
        _moment("created_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _moment("next_attempt_at", nullable=False),
        _moment("delivered_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_visibility_alert_messages"),
    )
    op.create_index(
        "ix_visibility_alert_messages_due", "visibility_alert_messages", ["delivered_at", "next_attempt_at"]
    )


def upgrade() -> None:
    _conflicts()
    _memory()
    _outboxes()


def downgrade() -> None:
    for table in (
        "visibility_alert_messages",
        "visibility_alerts",
        "visibility_outbox",
        "visibility_counters",
        "visibility_truths",
        "visibility_offers",
        "visibility_conflict_actions",
        "visibility_conflicts",
    ):
        op.drop_table(table)
