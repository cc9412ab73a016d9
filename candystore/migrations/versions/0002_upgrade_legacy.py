# ruff: noqa: INP001  (Alembic scripts are loaded by path, not imported as a package)
"""Copy the rows of a legacy ``events`` table (set aside as ``legacy_events`` by 0001) into the new schema.

Each row becomes a canonical envelope through Bloodbank's legacy upgrade: ``id`` →
``event_id``, ``correlation_id`` → ``correlation_ids`` (``[]`` or ``[id]``), the ``source``
string → ``{"host": "legacy", "type": "system", "app": s, "meta": {"legacy_source": s}}``,
``version`` "1.0.0", any other column under ``source.meta.legacy_fields``. A timestamp
without an offset is taken as UTC. An id that is not a UUID gets a stable UUIDv5 and
keeps the original in ``source.meta.legacy_id`` (``legacy_correlation_id`` likewise).
The copy is counted: if any row is missing, the migration fails and nothing changes.
``legacy_events`` is kept for the validation period (runbook), then dropped by hand.

Revision ID: 0002
Revises: 0001
"""

import base64
import re
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from bloodbank.legacy import upgrade_legacy_envelope
from candystore.store.writes import build_record

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 1000
KNOWN = ("id", "event_type", "timestamp", "source", "correlation_id", "payload")
LEGACY_NAMESPACE = uuid.UUID("5f1d7f1e-33a0-4c5e-9a53-6c4e6f6c65a1")  # fixed: the same legacy id always maps alike

_OFFSET = re.compile(r"([Zz]|[+-]\d{2}:?\d{2})$")
_json = sa.JSON().with_variant(JSONB(), "postgresql")
events = sa.table(
    "events",
    *(sa.column(name, sa.Uuid()) for name in ("event_id",)),
    sa.column("event_type", sa.Text()),
    sa.column("timestamp", sa.DateTime(timezone=True)),
    sa.column("version", sa.Text()),
    *(sa.column(name, _json) for name in ("source", "correlation_ids", "agent_context", "payload", "trace_context")),
    sa.column("stored_at", sa.DateTime(timezone=True)),
    *(sa.column(name, sa.Text()) for name in ("source_app", "agent_name", "content_hash", "document")),
)
causation = sa.table("causation", sa.column("parent_id", sa.Uuid()), sa.column("child_id", sa.Uuid()))


def _as_uuid(value: object) -> tuple[str, bool]:
    """The UUID text of a legacy id, and whether it had to be derived (the id was not a UUID)."""
    try:
        return str(uuid.UUID(str(value))), False
    except ValueError:
        return str(uuid.uuid5(LEGACY_NAMESPACE, str(value))), True


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)  # text keeps every digit of a NUMERIC
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _timestamp(value: object) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    text = str(value).strip()
    if text[10:11] == " ":  # SQL's "2026-01-02 03:04:05": RFC 3339 separates date and time with T
        text = f"{text[:10]}T{text[11:]}"
    return text if _OFFSET.search(text) else text + "Z"


def envelope_of(row: dict[str, Any]) -> dict[str, Any]:
    """The canonical envelope of one legacy row (payload given as JSON text)."""
    event_id, derived_id = _as_uuid(row["id"])
    parent = row["correlation_id"]
    legacy: dict[str, Any] = {key: _jsonable(value) for key, value in row.items() if key not in KNOWN}
    legacy.update(id=event_id, event_type=row["event_type"], timestamp=_timestamp(row["timestamp"]))
    legacy["source"] = row["source"]
    legacy["payload"] = None if row["payload"] is None else msgspec.json.decode(row["payload"])
    derived_parent = False
    if parent not in (None, ""):
        legacy["correlation_id"], derived_parent = _as_uuid(parent)
    envelope = upgrade_legacy_envelope(legacy, host="legacy")
    meta = {
        **({"legacy_id": str(row["id"])} if derived_id else {}),
        **({"legacy_correlation_id": str(parent)} if derived_parent else {}),
    }
    if meta:
        envelope["source"]["meta"] = {**envelope["source"].get("meta", {}), **meta}
    return envelope


def upgrade() -> None:
    bind = op.get_bind()
    if "legacy_events" not in sa.inspect(bind).get_table_names():
        return  # a fresh database: nothing to convert
    columns = [column["name"] for column in sa.inspect(bind).get_columns("legacy_events")]
    selected = [
        sa.cast(sa.column(name), sa.Text()).label(name) if name == "payload" else sa.column(name) for name in columns
    ]
    source = sa.select(*selected).select_from(sa.table("legacy_events")).order_by(sa.column("id"))
    stored_at = datetime.now(UTC)
    copied = 0
    for chunk in bind.execute(source).mappings().partitions(BATCH):
        records = [build_record(envelope_of(dict(row)), stored_at=stored_at) for row in chunk]
        bind.execute(sa.insert(events), [record.row for record in records])
        links = [{"parent_id": p, "child_id": record.event_id} for record in records for p in record.parents]
        if links:
            bind.execute(sa.insert(causation), links)
        copied += len(records)
    legacy_count = bind.execute(sa.select(sa.func.count()).select_from(sa.table("legacy_events"))).scalar_one()
    if copied != legacy_count:
        raise RuntimeError(f"copied {copied} of {legacy_count} legacy rows: nothing was changed")


def downgrade() -> None:
    if "legacy_events" in sa.inspect(op.get_bind()).get_table_names():
        raise RuntimeError(
            "0002 copied legacy rows and cannot be undone in place: restore the backup taken before upgrading"
            " (docs/runbooks/legacy-database-upgrade.md)"
        )
