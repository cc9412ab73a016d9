# ruff: noqa: INP001  (Alembic scripts are no package)
"""The detector's memory as observations of any source and entity, for the rule language of rules files v2.

Offers and truths held so far move to ``visibility_observations`` under the views of the
default rules (``offer:product_id,store_id`` and ``inventory:product_id,store_id``); a rules
file naming its sources or entities otherwise starts those views empty.

Revision ID: 0002
Revises: 0001
"""

from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OFFERS = "offer:product_id,store_id"
TRUTHS = "inventory:product_id,store_id"
_OFFER_FIELDS = (
    "team", "product_id", "store_id", "price", "currency", "availability", "surfaced_at", "quantity", "channel",
)  # fmt: skip
_TRUTH_FIELDS = ("store_id", "product_id", "on_hand", "price", "currency", "as_of")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _entity(document: dict[str, Any]) -> str:
    return msgspec.json.encode([document["product_id"], document["store_id"]]).decode()


def _observation(document: dict[str, Any], *, source: str, moment: str, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {name: document[name] for name in fields if document.get(name) is not None}
    team = document.get("team")
    return {"event_id": document["event_id"], "source": source, "team": team, "moment": moment, "values": values}


def upgrade() -> None:
    observations = op.create_table(
        "visibility_observations",
        sa.Column("view", sa.Text(), nullable=False, comment="source:entity fields, e.g. offer:product_id,store_id."),
        sa.Column("entity", sa.Text(), nullable=False, comment="The entity's field values as a JSON array."),
        sa.Column("team", sa.Text(), nullable=False, comment="The team; empty for the truth."),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column(
            "at", sa.Float(), nullable=False, comment="The event time as epoch seconds, to forget expired observations."
        ),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("view", "entity", "team", name="pk_visibility_observations"),
    )
    op.create_index("ix_visibility_observations_view_at", "visibility_observations", ["view", "at"])
    bind = op.get_bind()
    rows = []
    for offer in bind.execute(sa.text("SELECT at, document FROM visibility_offers")).mappings():
        document = _document(offer["document"])
        moment = document["surfaced_at"]
        converted = _observation(document, source="offer", moment=moment, fields=_OFFER_FIELDS)
        rows.append(_row(OFFERS, document, document["team"], offer["at"], converted))
    for truth in bind.execute(sa.text("SELECT at, document FROM visibility_truths")).mappings():
        document = _document(truth["document"])
        converted = _observation(document, source="inventory", moment=document["as_of"], fields=_TRUTH_FIELDS)
        rows.append(_row(TRUTHS, document, "", truth["at"], converted))
    if rows:
        op.bulk_insert(observations, rows)
    op.drop_table("visibility_truths")
    op.drop_index("ix_visibility_offers_at", table_name="visibility_offers")
    op.drop_table("visibility_offers")


def _document(stored: Any) -> dict[str, Any]:
    return msgspec.json.decode(stored) if isinstance(stored, str | bytes) else dict(stored)


def _row(view: str, document: dict[str, Any], team: str, at: float, converted: dict[str, Any]) -> dict[str, Any]:
    return {
        "view": view,
        "entity": _entity(document),
        "team": team,
        "event_id": document["event_id"],
        "at": at,
        "document": converted,
    }


def downgrade() -> None:
    offers = op.create_table(
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
    truths = op.create_table(
        "visibility_truths",
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False, comment="as_of as epoch seconds."),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "product_id", name="pk_visibility_truths"),
    )
    bind = op.get_bind()
    held = bind.execute(
        sa.text("SELECT view, at, document FROM visibility_observations WHERE view IN (:offers, :truths)"),
        {"offers": OFFERS, "truths": TRUTHS},
    ).mappings()
    offer_rows, truth_rows = [], []
    for row in held:
        document = _document(row["document"])
        values = {**document["values"], "event_id": document["event_id"]}
        common = {"store_id": values["store_id"], "product_id": values["product_id"], "event_id": values["event_id"]}
        if row["view"] == OFFERS:
            offer = {**dict.fromkeys(("quantity", "channel", "timestamp")), "customer_facing": True, **values}
            offer_rows.append({**common, "team": values["team"], "at": row["at"], "document": offer})
        else:
            truth_rows.append({**common, "at": row["at"], "document": values})
    if offer_rows:
        op.bulk_insert(offers, offer_rows)
    if truth_rows:
        op.bulk_insert(truths, truth_rows)
    op.drop_index("ix_visibility_observations_view_at", table_name="visibility_observations")
    op.drop_table("visibility_observations")
