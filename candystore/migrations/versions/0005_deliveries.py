# ruff: noqa: INP001  (Alembic scripts are loaded by path, not imported as a package)
"""Outbound deliveries: the subscriptions made through the API, and the record of each event delivered.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column(
            "name", sa.Text(), nullable=False, comment="The subscription's name; its consumer is delivery.{name}."
        ),
        sa.Column("patterns", sa.JSON(), nullable=False, comment="Event-type patterns it is bound to (JSON list)."),
        sa.Column(
            "filters", sa.JSON(), nullable=False, comment="Payload conditions every delivered event meets (JSON list)."
        ),
        sa.Column("url", sa.Text(), nullable=False, comment="Where events are POSTed (http or https)."),
        sa.Column(
            "secret", sa.Text(), nullable=False, comment="The Standard Webhooks secret (whsec_…) signing each request."
        ),
        sa.Column(
            "retry_delays", sa.JSON(), nullable=True, comment="Its own retry tiers in seconds; null: the default."
        ),
        sa.Column("concurrency", sa.Integer(), nullable=True, comment="Requests in flight at most; null: the default."),
        sa.Column("timeout", sa.Float(), nullable=True, comment="Seconds a request may take; null: the default."),
        sa.Column("enabled", sa.Boolean(), nullable=False, comment="Whether events are delivered (false: they wait)."),
        sa.Column(
            "disabled_reason",
            sa.Text(),
            nullable=True,
            comment="Why it was disabled (e.g. the receiver answered 410).",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When it was created (UTC)."),
        sa.Column("created_by", sa.Text(), nullable=False, comment="Who created it."),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, comment="When it last changed (UTC)."),
        sa.Column("updated_by", sa.Text(), nullable=False, comment="Who changed it last."),
        sa.PrimaryKeyConstraint("name", name="pk_subscriptions"),
    )
    op.create_table(
        "deliveries",
        sa.Column("subscription", sa.Text(), nullable=False, comment="The subscription that delivered it."),
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="The event delivered (its webhook-id)."),
        sa.Column("status", sa.Integer(), nullable=False, comment="The HTTP status the receiver answered."),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="The attempt that succeeded (1: the first)."),
        sa.Column(
            "delivered_at", sa.DateTime(timezone=True), nullable=False, comment="When the receiver answered (UTC)."
        ),
        sa.PrimaryKeyConstraint("subscription", "event_id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_delivered_at", "deliveries", ["delivered_at"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("subscriptions")
