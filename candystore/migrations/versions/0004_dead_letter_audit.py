# ruff: noqa: INP001  (Alembic scripts are loaded by path, not imported as a package)
"""Who resolved or discarded a dead letter, when, why, and the event a replay published.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("resolved_at", "resolved_by", "resolution_note", "replayed_event_id")


def upgrade() -> None:
    # Nullable columns without defaults: SQLite adds them in place, no table rebuild.
    op.add_column(
        "dead_letters",
        sa.Column(
            "resolved_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it was replayed or discarded (UTC).",
        ),
    )
    op.add_column(
        "dead_letters",
        sa.Column("resolved_by", sa.Text(), nullable=True, comment="Who replayed or discarded it."),
    )
    op.add_column(
        "dead_letters",
        sa.Column("resolution_note", sa.Text(), nullable=True, comment="Why it was discarded (or a replay's note)."),
    )
    op.add_column(
        "dead_letters",
        sa.Column(
            "replayed_event_id",
            sa.Uuid(),
            nullable=True,
            comment="The id of the event a replay published to the main exchange.",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
