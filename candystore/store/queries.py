"""Reading events: one by id, and filtered pages in (timestamp, event_id) order with an opaque cursor.

The cursor is the position of the last item returned (its timestamp and id). The
next page starts strictly after it, so events that arrive in between never shift
a page: newer ones appear at the end (ascending) or are not reached (descending).
A cursor the store did not issue (or one whose time is outside the years 1970 to 9999) is refused
with :class:`~candystore.store.errors.InvalidCursor`.

Event types are filtered by pattern (:mod:`holyfields.wildcards`: ``*`` one word, ``#``
any number of words); payload conditions (``payload.PATH[op]=value``) are translated to SQL by
:mod:`candystore.store.payload_conditions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Boolean, ColumnElement, Select, String, and_, false, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.functions import Function

from candystore.conditions import Condition, Operator
from candystore.store.engine import EVENT_TYPE_MATCHES
from candystore.store.payload_conditions import payload_condition
from candystore.store.schema import causation, events
from candystore.store.writes import normalise_timestamp
from gumdrop.pagination import Keyset
from holyfields.timestamps import parse_timestamp
from holyfields.wildcards import TypePattern

__all__ = ["EventFilter", "Page", "event_type_condition", "fetch_documents", "get_event", "query_events"]


_stored_json = msgspec.json.Decoder().decode
"""Stored documents were checked where they came in: read back as they are, whatever later rules say."""

JsonScalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """The filters of ``GET /events``; all given ones must match."""

    event_type: str | None = None
    """An exact type, or a pattern: ``*`` one word, ``#`` any number of words (``retail.#``)."""
    source_app: str | None = None
    since: datetime | None = None
    """Inclusive lower bound on the envelope timestamp."""
    until: datetime | None = None
    """Exclusive upper bound on the envelope timestamp."""
    correlation_id: str | None = None
    """Events that name this id among their parents (``correlation_ids``)."""
    agent_name: str | None = None
    payload: Mapping[str, JsonScalar] = field(default_factory=dict)
    """Top-level payload fields and the scalar value each must equal (numbers compare by value)."""
    conditions: tuple[Condition, ...] = ()
    """Payload conditions (``payload.PATH[op]=value``), all of which must hold."""

    def payload_conditions(self) -> tuple[Condition, ...]:
        """Every payload test as a condition: ``payload`` fields as equalities, then ``conditions``."""
        fields = tuple(
            Condition(f"payload.{key}={msgspec.json.encode(value).decode()}", (key,), Operator.EQ, value)
            for key, value in self.payload.items()
        )
        return fields + self.conditions


@dataclass(frozen=True, slots=True)
class Page:
    """One page of envelopes; ``next_cursor`` is None on the last page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


EVENT_PAGES = Keyset(events.c.timestamp, events.c.event_id, parse_timestamp)
"""Events in (timestamp, event_id) order."""


def event_type_condition(dialect: str, column: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    """``column`` holds a type matching ``pattern``; raises :class:`~holyfields.wildcards.InvalidPattern`.

    The literal prefix narrows by index (``LIKE 'retail.%'``); the pattern itself is decided
    by PostgreSQL's regular expressions, or on SQLite by the function the engine registers.
    """
    parsed = TypePattern.parse(pattern)
    if parsed.is_exact:
        return column == parsed.text
    if parsed.matches_everything:
        return column.is_not(None)
    conditions: list[ColumnElement[bool]] = []
    if prefix := parsed.literal_prefix:
        conditions.append(column.like(prefix.replace("_", "\\_") + "%", escape="\\"))  # words hold no `%` or backslash
    if dialect == "postgresql":
        conditions.append((literal(".", String) + column).regexp_match(parsed.posix_regex))
    else:
        conditions.append(Function(EVENT_TYPE_MATCHES, literal(parsed.text, String), column, type_=Boolean))
    return and_(*conditions)


def _conditions(dialect: str, filters: EventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.event_type is not None:
        conditions.append(event_type_condition(dialect, events.c.event_type, filters.event_type))
    if filters.source_app is not None:
        conditions.append(events.c.source_app == filters.source_app)
    if filters.agent_name is not None:
        conditions.append(events.c.agent_name == filters.agent_name)
    if filters.since is not None:
        conditions.append(events.c.timestamp >= normalise_timestamp(filters.since)[1])
    if filters.until is not None:
        conditions.append(events.c.timestamp < normalise_timestamp(filters.until)[1])
    if filters.correlation_id is not None:
        try:
            parent = uuid.UUID(filters.correlation_id)
        except ValueError:
            conditions.append(false())  # no stored event can name a non-UUID parent
        else:
            children = select(causation.c.child_id).where(causation.c.parent_id == parent)
            conditions.append(events.c.event_id.in_(children))
    conditions.extend(payload_condition(dialect, condition) for condition in filters.payload_conditions())
    return conditions


def _page_statement(
    dialect: str, filters: EventFilter, limit: int, cursor: str | None, *, descending: bool
) -> Select[Any]:
    statement = select(events.c.timestamp, events.c.event_id, events.c.document).where(*_conditions(dialect, filters))
    return EVENT_PAGES.page(statement, limit=limit, cursor=cursor, descending=descending)


async def query_events(
    connection: AsyncConnection,
    filters: EventFilter,
    *,
    limit: int,
    cursor: str | None = None,
    descending: bool = False,
) -> Page:
    """One page of the events matching ``filters``, oldest first (newest first when ``descending``)."""
    statement = _page_statement(connection.dialect.name, filters, limit, cursor, descending=descending)
    rows = (await connection.execute(statement)).all()
    return Page([_stored_json(row.document) for row in rows[:limit]], EVENT_PAGES.next_cursor(rows, limit))


async def get_event(connection: AsyncConnection, event_id: str | uuid.UUID) -> dict[str, Any] | None:
    """The envelope stored under ``event_id`` as published (timestamp in UTC), or None."""
    found = await fetch_documents(connection, [event_id])
    return next(iter(found.values()), None)


async def fetch_documents(
    connection: AsyncConnection, event_ids: list[str | uuid.UUID] | list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored envelopes among ``event_ids``, by id (ids that are not UUIDs are simply not found)."""
    ids: list[uuid.UUID] = []
    for event_id in event_ids:
        try:
            ids.append(event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id))
        except ValueError:
            continue
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        statement = select(events.c.event_id, events.c.document).where(events.c.event_id.in_(ids[start : start + 500]))
        found.update({row.event_id: _stored_json(row.document) for row in await connection.execute(statement)})
    return found
