"""Dead letters in the database: kept as rows, listed, and moved from open to resolved or discarded.

The keeper (:mod:`candystore.dead_letters`) reads a message from ``dlq.all``; this module
turns a :class:`DeadLetter` into a row (a redelivered one absorbed by its fingerprint).
PostgreSQL's text and JSONB cannot hold U+0000, so a body containing it is kept as base64
and the other texts have it replaced.

A row leaves ``open`` once, by a conditional update: replayed (``resolved``) or
``discarded``, with who, when and why. Rows are never deleted; they are the audit trail.
Changing a row that is no longer open raises :class:`DeadLetterNotOpen` (a
:class:`~candystore.store.errors.StoreError`) saying its state.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.errors import StoreError
from candystore.store.queries import event_type_condition
from candystore.store.schema import dead_letters
from gumdrop.pagination import Keyset
from gumdrop.utc import as_utc
from holyfields.timestamps import parse_timestamp

__all__ = [
    "DeadLetter",
    "DeadLetterFilter",
    "DeadLetterNotOpen",
    "DeadLetterPage",
    "DeadLetterRecord",
    "DeadLetterState",
    "close_dead_letter",
    "count_dead_letters",
    "get_dead_letter",
    "insert_dead_letters",
    "list_dead_letters",
]

_sorted_encoder = msgspec.json.Encoder(order="sorted")


class DeadLetterState(StrEnum):
    """Where a dead letter stands."""

    OPEN = "open"
    """Kept, waiting for someone to replay or discard it."""
    RESOLVED = "resolved"
    """Replayed to the main exchange."""
    DISCARDED = "discarded"
    """Discarded on purpose; kept for audit."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message from ``dlq.all``, with what its headers and body tell about the failure."""

    body: bytes
    routing_key: str
    headers: Mapping[str, Any]
    event_id: uuid.UUID | None = None
    consumer: str | None = None
    event_type: str | None = None
    error: str | None = None
    attempts: int | None = None
    failed_at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of body and headers: the same dead letter delivered twice has the same fingerprint."""
        digest = hashlib.sha256(self.body)
        digest.update(_sorted_encoder.encode(_json_safe(self.headers)))
        return digest.hexdigest()


def _text(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "\ufffd")


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Mapping):
        return {str(_json_safe(key)): _json_safe(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)  # a broker may hand over timestamps or decimals in headers


def _body(raw: bytes) -> tuple[str, str]:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return base64.b64encode(raw).decode(), "base64"
    return text, "utf-8"


def dead_letter_row(letter: DeadLetter, *, received_at: datetime) -> dict[str, Any]:
    """The ``dead_letters`` row of a letter, as a new open one."""
    body, encoding = _body(letter.body)
    return {
        "id": uuid.uuid4(),
        "event_id": letter.event_id,
        "consumer": _text(letter.consumer),
        "event_type": _text(letter.event_type),
        "error": _text(letter.error),
        "attempts": letter.attempts,
        "failed_at": letter.failed_at,
        "routing_key": _text(letter.routing_key),
        "headers": _json_safe(letter.headers),
        "body": body,
        "body_encoding": encoding,
        "state": DeadLetterState.OPEN.value,
        "received_at": received_at,
        "fingerprint": letter.fingerprint,
    }


async def insert_dead_letters(
    connection: AsyncConnection, letters: Sequence[DeadLetter], *, received_at: datetime
) -> int:
    """Insert letters not kept yet (by fingerprint); returns how many rows were added."""
    if not letters:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(dead_letters)
        .on_conflict_do_nothing(index_elements=[dead_letters.c.fingerprint])
        .returning(dead_letters.c.id)
    )
    rows = [dead_letter_row(letter, received_at=received_at) for letter in letters]
    return len((await connection.execute(statement, rows)).all())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterFilter:
    """The filters of ``GET /dlq``; all given ones must match."""

    consumer: str | None = None
    event_type: str | None = None
    """An exact type, or a pattern: ``*`` one word, ``#`` any number of words (``retail.#``)."""
    reason: str | None = None
    """A piece of the error text, matched case-insensitively."""
    since: datetime | None = None
    """Inclusive lower bound on when Candystore received it."""
    until: datetime | None = None
    """Exclusive upper bound on when Candystore received it."""
    state: DeadLetterState | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRecord:
    """A kept dead letter as read back, with its audit fields once it left ``open``."""

    id: str
    event_id: str | None
    consumer: str | None
    event_type: str | None
    error: str | None
    attempts: int | None
    failed_at: datetime | None
    routing_key: str
    headers: dict[str, Any]
    body: str
    """The message body as text; base64 when ``body_encoding`` is ``base64``."""
    body_encoding: str
    state: DeadLetterState
    received_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    replayed_event_id: str | None = None

    @property
    def raw_body(self) -> bytes:
        """The body bytes as they were dead-lettered (U+0000 aside, see the module docstring)."""
        return base64.b64decode(self.body) if self.body_encoding == "base64" else self.body.encode()


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """One page of dead letters; ``next_cursor`` is None on the last page."""

    items: list[DeadLetterRecord]
    next_cursor: str | None


_PAGES = Keyset(dead_letters.c.received_at, dead_letters.c.id, parse_timestamp)
"""Dead letters in (received_at, id) order."""


class DeadLetterNotOpen(StoreError):
    """A dead letter that was already replayed or discarded: it cannot change again."""

    def __init__(self, letter_id: str, state: DeadLetterState) -> None:
        self.letter_id = letter_id
        self.state = state
        super().__init__(
            f"dead letter {letter_id} is {state.value}, not open: only open dead letters can be replayed or discarded"
        )


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"time {moment.isoformat()!r} has no UTC offset")
    return moment.astimezone(UTC)


def _record(row: Row[Any]) -> DeadLetterRecord:
    received_at = _utc(row.received_at)
    assert received_at is not None  # noqa: S101 - the column is NOT NULL
    return DeadLetterRecord(
        id=str(row.id),
        event_id=None if row.event_id is None else str(row.event_id),
        consumer=row.consumer,
        event_type=row.event_type,
        error=row.error,
        attempts=row.attempts,
        failed_at=_utc(row.failed_at),
        routing_key=row.routing_key,
        headers=dict(row.headers or {}),
        body=row.body,
        body_encoding=row.body_encoding,
        state=DeadLetterState(row.state),
        received_at=received_at,
        resolved_at=_utc(row.resolved_at),
        resolved_by=row.resolved_by,
        resolution_note=row.resolution_note,
        replayed_event_id=None if row.replayed_event_id is None else str(row.replayed_event_id),
    )


def _letter_id(value: str | uuid.UUID) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    except ValueError:
        return None


def _conditions(dialect: str, filters: DeadLetterFilter) -> list[ColumnElement[bool]]:
    table = dead_letters.c
    conditions: list[ColumnElement[bool]] = []
    # Stored texts have U+0000 replaced (see the module docstring): filter values are read alike.
    if filters.consumer is not None:
        conditions.append(table.consumer == _text(filters.consumer))
    if filters.event_type is not None:
        conditions.append(event_type_condition(dialect, table.event_type, filters.event_type))
    if filters.reason is not None:
        conditions.append(table.error.icontains(_text(filters.reason), autoescape=True))
    if filters.since is not None:
        conditions.append(table.received_at >= _aware_utc(filters.since))
    if filters.until is not None:
        conditions.append(table.received_at < _aware_utc(filters.until))
    if filters.state is not None:
        conditions.append(table.state == filters.state.value)
    return conditions


async def list_dead_letters(
    connection: AsyncConnection,
    filters: DeadLetterFilter,
    *,
    limit: int,
    cursor: str | None = None,
    descending: bool = True,
) -> DeadLetterPage:
    """One page of matching dead letters in (received_at, id) order, newest first unless not ``descending``.

    The cursor is the position of the last row returned, so rows kept in between never shift a page.
    """
    statement = select(dead_letters).where(*_conditions(connection.dialect.name, filters))
    statement = _PAGES.page(statement, limit=limit, cursor=cursor, descending=descending)
    rows = (await connection.execute(statement)).all()
    return DeadLetterPage([_record(row) for row in rows[:limit]], _PAGES.next_cursor(rows, limit))


async def get_dead_letter(connection: AsyncConnection, letter_id: str | uuid.UUID) -> DeadLetterRecord | None:
    """The dead letter kept under ``letter_id``, or None (also for an id that is not a UUID)."""
    key = _letter_id(letter_id)
    if key is None:
        return None
    row = (await connection.execute(select(dead_letters).where(dead_letters.c.id == key))).first()
    return None if row is None else _record(row)


async def close_dead_letter(
    connection: AsyncConnection,
    letter_id: str | uuid.UUID,
    *,
    state: DeadLetterState,
    actor: str,
    at: datetime,
    note: str | None = None,
    replayed_event_id: str | uuid.UUID | None = None,
) -> DeadLetterRecord | None:
    """Move an open dead letter to ``state`` (resolved or discarded) with who, when and why.

    Returns the updated row, None when there is no such dead letter; raises
    :class:`DeadLetterNotOpen` when it already left ``open`` (the update is conditional,
    so of two concurrent changes exactly one wins).
    """
    if state is DeadLetterState.OPEN:
        raise ValueError("a dead letter can only be moved to resolved or discarded")
    key = _letter_id(letter_id)
    if key is None:
        return None
    replayed = None if replayed_event_id is None else uuid.UUID(str(replayed_event_id))
    statement = (
        update(dead_letters)
        .where(dead_letters.c.id == key, dead_letters.c.state == DeadLetterState.OPEN.value)
        .values(
            state=state.value,
            resolved_at=_aware_utc(at),
            resolved_by=_text(actor),
            resolution_note=_text(note),
            replayed_event_id=replayed,
        )
        .returning(*dead_letters.c)
    )
    row = (await connection.execute(statement)).first()
    if row is not None:
        return _record(row)
    current = await get_dead_letter(connection, key)
    if current is None:
        return None
    raise DeadLetterNotOpen(current.id, current.state)


async def count_dead_letters(connection: AsyncConnection) -> dict[DeadLetterState, int]:
    """How many dead letters are in each state (every state present, zero included)."""
    statement = select(dead_letters.c.state, func.count()).group_by(dead_letters.c.state)
    counts = dict.fromkeys(DeadLetterState, 0)
    for state, count in (await connection.execute(statement)).all():
        counts[DeadLetterState(state)] = int(count)
    return counts
