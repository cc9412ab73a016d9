"""Writing events: from an envelope to a row, and a batch in one transaction.

Exact round trip: the envelope is kept as JSON text (``events.document``) encoded
from the decoded envelope with msgspec, which keeps key order, integers of any
size and floats (shortest text that decodes to the same double). Only the
timestamp is rewritten, to UTC with ``Z``, keeping its fractional digits as given.

On PostgreSQL a batch and its causation links go in as one statement of array
parameters (``unnest``), whatever the batch size; elsewhere as an executemany.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import Insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.errors import DatabaseUnavailable
from candystore.store.schema import causation, events
from holyfields.timestamps import OUT_OF_RANGE, InvalidTimestamp, canonical_timestamp

__all__ = ["EventRecord", "Outcome", "StoreResult", "build_record", "insert_records", "normalise_timestamp"]

_encoder = msgspec.json.Encoder()
_sorted_encoder = msgspec.json.Encoder(order="sorted")


class Outcome(StrEnum):
    """What ``store_batch`` did with one envelope."""

    STORED = "stored"
    """Inserted: it was new."""
    DUPLICATE = "duplicate"
    """Already stored with the same content (a redelivery): absorbed, nothing written."""
    CONFLICT = "conflict"
    """Its event_id is stored with different content: not stored; the first one is kept."""
    INVALID = "invalid"
    """It cannot be stored (no UUID event_id, unparsable timestamp…): not stored."""


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome for one envelope of a batch; ``reason`` says why for a conflict or an invalid one."""

    event_id: str | None
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An envelope ready to insert: its ``events`` row and its parents (the causation links)."""

    event_id: uuid.UUID
    row: dict[str, Any]
    parents: tuple[uuid.UUID, ...]
    derived_columns: bool = True
    """Whether each JSON column is the document's member of its name (JSON null when missing).

    Not so when the document holds U+0000, which JSONB cannot (the columns keep copies
    with U+FFFD), or when its ``correlation_ids`` is missing or null (the column keeps ``[]``).
    """

    @property
    def content_hash(self) -> str:
        return str(self.row["content_hash"])


def normalise_timestamp(value: str | datetime) -> tuple[str, datetime]:
    """A timestamp as stored: UTC text (fraction kept as given, ``Z``) and an aware datetime.

    Text is read by the platform's one definition (:mod:`holyfields.timestamps`), so that
    what the gateway accepted is stored; raises ``ValueError`` (an ``InvalidTimestamp``) otherwise.
    """
    if not isinstance(value, datetime):
        return canonical_timestamp(value)
    if value.tzinfo is None:
        raise InvalidTimestamp(value.isoformat(), "has no UTC offset")
    try:
        return canonical_timestamp(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    except OverflowError:
        raise InvalidTimestamp(value.isoformat(), OUT_OF_RANGE) from None


def _without_nul(value: Any) -> Any:
    """``value`` with U+0000 replaced (PostgreSQL's JSONB cannot hold it); for the query copies only."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _uuid(value: object, where: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{where} {value!r} is not a UUID") from None


def build_record(envelope: Mapping[str, Any], *, stored_at: datetime) -> EventRecord:
    """The row of one envelope; raises ``ValueError`` or ``TypeError`` saying what makes it unstorable."""
    event_id = _uuid(envelope.get("event_id"), "event_id")
    timestamp = envelope.get("timestamp")
    if not isinstance(timestamp, str | datetime):
        raise TypeError("timestamp is missing")
    try:
        text, moment = normalise_timestamp(timestamp)
    except InvalidTimestamp as exc:
        raise ValueError(f"timestamp {exc}") from None
    document = {**envelope, "timestamp": text}
    correlation_ids = document.get("correlation_ids")
    derived_columns = correlation_ids is not None
    if correlation_ids is None:
        correlation_ids = []
    elif not isinstance(correlation_ids, list):
        raise TypeError("correlation_ids is not a list")
    parents = tuple(dict.fromkeys(_uuid(parent, "correlation_ids item") for parent in correlation_ids))
    source = document.get("source")
    agent = document.get("agent_context")
    app = source.get("app") if isinstance(source, Mapping) else None
    agent_name = agent.get("name") if isinstance(agent, Mapping) else None
    row = {
        "event_id": event_id,
        "event_type": str(document.get("event_type", "")),
        "timestamp": moment,
        "version": str(document.get("version", "")),
        "source": source,
        "correlation_ids": correlation_ids,
        "agent_context": agent,
        "payload": document.get("payload"),
        "trace_context": document.get("trace_context"),
        "stored_at": stored_at,
        "source_app": app if isinstance(app, str) else None,
        "agent_name": agent_name if isinstance(agent_name, str) else None,
        # Sorted keys: the same event re-encoded with another key order is still a duplicate.
        "content_hash": hashlib.sha256(_sorted_encoder.encode(document)).hexdigest(),
        "document": _encoder.encode(document).decode(),
    }
    if "\\u0000" in str(row["document"]):
        for name in (
            "source",
            "correlation_ids",
            "agent_context",
            "payload",
            "trace_context",
            "source_app",
            "agent_name",
        ):
            row[name] = _without_nul(row[name])
        derived_columns = False
    return EventRecord(event_id, row, parents, derived_columns)


def _insert(connection: AsyncConnection, table: Any) -> Insert:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]


def _postgres_types() -> dict[str, str]:
    """Each ``events`` column's PostgreSQL type, without length (``UUID``, ``TEXT``, ``JSONB``…)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return {
        column.name: column.type.dialect_impl(dialect).compile(dialect=dialect).split("(")[0]
        for column in events.columns
    }


_PG_TYPES = _postgres_types()
_JSONB_COLUMNS = frozenset(name for name, sql_type in _PG_TYPES.items() if sql_type == "JSONB")
_ARRAY_COLUMNS = tuple(name for name in _PG_TYPES if name not in _JSONB_COLUMNS)
"""The columns sent as one array each; the JSON ones are read from the document by the server."""


def _unnest_insert_sql() -> str:
    """One PostgreSQL statement inserting a whole batch and its causation links, whatever its size.

    Every column arrives as one array parameter and ``unnest`` turns them back into rows:
    the statement text never changes, so it is prepared and planned once, where a
    ``VALUES`` list per batch size would be parsed and planned again for each new size.
    The JSON columns are not sent: the server parses each document once and takes them
    from it (``overrides`` stands in for the document where that would not give the row's
    values, see :func:`_overrides`); ``OFFSET 0`` keeps the planner from inlining that
    subquery, which would parse the document once per column.
    """
    names = ", ".join(f'"{name}"' for name in _PG_TYPES)
    arrays = ", ".join(f"CAST(:{name} AS {_PG_TYPES[name]}[])" for name in _ARRAY_COLUMNS)
    array_names = ", ".join(f'"{name}"' for name in _ARRAY_COLUMNS)
    selected = ", ".join(
        f"COALESCE(j.document -> '{name}', 'null'::jsonb)" if name in _JSONB_COLUMNS else f'r."{name}"'
        for name in _PG_TYPES
    )
    return (
        f"WITH inserted AS (INSERT INTO {events.name} ({names}) SELECT {selected} "  # noqa: S608 - names from the table
        f"FROM unnest({arrays}, CAST(:overrides AS TEXT[])) AS r({array_names}, overrides) "
        "CROSS JOIN LATERAL (SELECT COALESCE(r.overrides, r.document)::jsonb AS document OFFSET 0) AS j "
        "ON CONFLICT DO NOTHING RETURNING event_id), "
        f"links AS (INSERT INTO {causation.name} (parent_id, child_id) SELECT l.parent_id, l.child_id "
        "FROM unnest(CAST(:link_parents AS UUID[]), CAST(:link_children AS UUID[])) AS l(parent_id, child_id) "
        "JOIN inserted ON inserted.event_id = l.child_id ON CONFLICT DO NOTHING) "
        "SELECT event_id FROM inserted"
    )


_UNNEST_INSERT = text(_unnest_insert_sql())


def _overrides(record: EventRecord) -> str | None:
    """The JSON columns' values as one object, when reading them from the document would not give them."""
    if record.derived_columns:
        return None
    return _encoder.encode({name: record.row[name] for name in _JSONB_COLUMNS}).decode()


async def _insert_unnested(connection: AsyncConnection, records: Sequence[EventRecord]) -> set[uuid.UUID]:
    parameters = {name: [record.row[name] for record in records] for name in _ARRAY_COLUMNS}
    parameters["overrides"] = [_overrides(record) for record in records]
    parameters["link_parents"] = [parent for record in records for parent in record.parents]
    parameters["link_children"] = [record.event_id for record in records for _ in record.parents]
    return set((await connection.execute(_UNNEST_INSERT, parameters)).scalars())


async def insert_records(connection: AsyncConnection, records: Sequence[EventRecord]) -> set[uuid.UUID]:
    """Insert records and their causation links, skipping ids already stored; returns the ids inserted."""
    if not records:
        return set()
    if connection.dialect.name == "postgresql":
        return await _insert_unnested(connection, records)
    statement = _insert(connection, events).returning(events.c.event_id)
    inserted = set((await connection.execute(statement, [record.row for record in records])).scalars())
    links = [
        {"parent_id": parent, "child_id": record.event_id}
        for record in records
        if record.event_id in inserted
        for parent in record.parents
    ]
    if links:
        await connection.execute(_insert(connection, causation), links)
    return inserted


async def stored_hashes(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The content hash of each of ``ids`` that is stored."""
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(ids), 500):  # chunks keep well under every driver's parameter limit
        chunk = ids[start : start + 500]
        rows = await connection.execute(
            select(events.c.event_id, events.c.content_hash).where(events.c.event_id.in_(chunk))
        )
        found.update({row.event_id: row.content_hash for row in rows})
    return found


def _classify(record: EventRecord, stored_hash: str) -> StoreResult:
    event_id = str(record.event_id)
    if stored_hash == record.content_hash:
        return StoreResult(event_id, Outcome.DUPLICATE)
    return StoreResult(
        event_id, Outcome.CONFLICT, f"event_id {event_id} is already stored with different content; the first is kept"
    )


async def write_batch(connection: AsyncConnection, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
    """Store a batch on ``connection``; one result per envelope, in order.

    The caller owns the transaction, or, on PostgreSQL, may run each statement in a
    transaction of its own: there the events and their links go in as one statement, and
    what follows only reads.
    """
    now = datetime.now(UTC)
    results: list[StoreResult | None] = [None] * len(envelopes)
    first_by_id: dict[uuid.UUID, EventRecord] = {}
    pending: list[tuple[int, EventRecord]] = []
    repeats: list[tuple[int, EventRecord]] = []
    for index, envelope in enumerate(envelopes):
        try:
            record = build_record(envelope, stored_at=now)
        except (ValueError, TypeError, ArithmeticError) as exc:  # OverflowError: a timestamp past UTC's range
            raw_id = envelope.get("event_id")
            results[index] = StoreResult(None if raw_id is None else str(raw_id), Outcome.INVALID, str(exc))
            continue
        if first_by_id.setdefault(record.event_id, record) is record:
            pending.append((index, record))
        else:  # the same id twice in one batch: judged against whatever ends up stored
            repeats.append((index, record))
    # Inserted first, looked up after: the common batch (all new) costs one statement.
    inserted = await insert_records(connection, [record for _, record in pending])
    existing = await stored_hashes(connection, [r.event_id for _, r in pending if r.event_id not in inserted])
    if vanished := [r.event_id for _, r in pending if r.event_id not in inserted and r.event_id not in existing]:
        # Stored when inserted, gone when looked up (a retention purge in between): a lost race, not a bad
        # record, so the batch is held and written again like after an outage.
        raise DatabaseUnavailable(
            f"{len(vanished)} event(s) neither inserted nor found (purged meanwhile), e.g. {vanished[0]}; writing again"
        )
    for index, record in pending:
        if record.event_id in inserted:
            results[index] = StoreResult(str(record.event_id), Outcome.STORED)
        else:
            results[index] = _classify(record, existing[record.event_id])
    for index, record in repeats:
        results[index] = _classify(record, existing.get(record.event_id, first_by_id[record.event_id].content_hash))
    return [result for result in results if result is not None]
