# ruff: noqa: INP001  (Alembic scripts are loaded by path, not imported as a package)
"""The dead_letters table: what Bloodbank dead-lettered, drained from ``dlq.all`` by the keeper.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False, comment="The dead letter's own id (a new UUID when it is kept)."),
        sa.Column(
            "event_id",
            sa.Uuid(),
            nullable=True,
            comment="The event's id, from the message id or the body, if known.",
        ),
        sa.Column(
            "consumer", sa.Text(), nullable=True, comment="The consumer that gave up on it (x-bloodbank-consumer)."
        ),
        sa.Column("event_type", sa.Text(), nullable=True, comment="The event type, when the body decodes."),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it failed (x-bloodbank-error)."),
        sa.Column(
            "attempts",
            sa.Integer(),
            nullable=True,
            comment="Handling attempts before it failed (x-bloodbank-attempts).",
        ),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), nullable=True, comment="When it failed (x-bloodbank-failed-at)."
        ),
        sa.Column("routing_key", sa.Text(), nullable=False, comment="The routing key it reached dlq.all with."),
        sa.Column(
            "headers",
            sa.JSON().with_variant(JSONB(), "postgresql"),
            nullable=False,
            comment="Every message header, as received.",
        ),
        sa.Column(
            "body",
            sa.Text(),
            nullable=False,
            comment="The message body as text (base64 when body_encoding says so).",
        ),
        sa.Column(
            "body_encoding",
            sa.Text(),
            nullable=False,
            comment="'utf-8', or 'base64' for a body that is not UTF-8.",
        ),
        sa.Column("state", sa.Text(), nullable=False, comment="open, resolved (replayed) or discarded."),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, comment="When Candystore committed it (UTC)."
        ),
        sa.Column(
            "fingerprint",
            sa.String(64),
            nullable=False,
            comment="SHA-256 of body and headers: one row per dead letter.",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint("fingerprint", name="uq_dead_letters_fingerprint"),
    )
    op.create_index("ix_dead_letters_state_received_at", "dead_letters", ["state", "received_at"])
    op.create_index("ix_dead_letters_consumer_received_at", "dead_letters", ["consumer", "received_at"])
    op.create_index("ix_dead_letters_event_type_received_at", "dead_letters", ["event_type", "received_at"])
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])
    op.create_index("ix_dead_letters_event_id", "dead_letters", ["event_id"])


def downgrade() -> None:
    op.drop_table("dead_letters")
