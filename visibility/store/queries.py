"""Reading conflicts: filtered pages newest first with an opaque cursor, one conflict with its actions.

The cursor is the position of the last item returned (its ``detected_at`` and id); the
next page starts strictly after it, so conflicts opened in between never shift a page.
A cursor the store did not issue (or one whose time is outside the years 1970 to 9999)
is refused with :class:`~visibility.store.errors.InvalidCursor`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import ColumnElement, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from holyfields.timestamps import parse_timestamp
from visibility.domain.records import ActionRecord, ConflictRecord, as_utc
from visibility.store.errors import InvalidCursor
from visibility.store.schema import UNRESOLVED, conflict_actions, conflicts

__all__ = [
    "STATUS_FILTERS",
    "ConflictFilter",
    "ConflictPage",
    "get_conflict",
    "list_conflicts",
]

RESOLVED = ("fixed", "accepted", "disputed")
STATUS_FILTERS = ("open", "acknowledged", "fixed", "accepted", "disputed", "unresolved", "resolved", "escalated")
"""What ``status`` may be: a status, or ``unresolved``, ``resolved``, ``escalated`` (unresolved and escalated)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictFilter:
    """The filters of ``GET /conflicts``; all given ones must match."""

    status: str | None = None
    rule: str | None = None
    team: str | None = None
    product_id: str | None = None
    store_id: str | None = None
    since: datetime | None = None
    """Inclusive lower bound on ``detected_at``."""
    until: datetime | None = None
    """Exclusive upper bound on ``detected_at``."""


@dataclass(frozen=True, slots=True)
class ConflictPage:
    items: list[ConflictRecord]
    next_cursor: str | None


def encode_cursor(moment: datetime, conflict_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([as_utc(moment).isoformat(), conflict_id.hex])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, conflict_id = msgspec.json.decode(raw, type=tuple[str, str])
        # The one timestamp parser: a forged time outside what the store holds is refused, not overflowed.
        return parse_timestamp(moment), uuid.UUID(hex=conflict_id)
    except (binascii.Error, msgspec.DecodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc


def _status_condition(status: str) -> ColumnElement[bool]:
    column = conflicts.c.status
    if status == "unresolved":
        return column.in_(UNRESOLVED)
    if status == "resolved":
        return column.in_(RESOLVED)
    if status == "escalated":
        return column.in_(UNRESOLVED) & conflicts.c.escalation_level.is_not(None)
    if status not in STATUS_FILTERS:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUS_FILTERS)}")
    return column == status


def _statement(filters: ConflictFilter, limit: int, cursor: str | None) -> Select[tuple[object, ...]]:
    statement = select(conflicts)
    if filters.status is not None:
        statement = statement.where(_status_condition(filters.status))
    if filters.rule is not None:
        statement = statement.where(conflicts.c.rule == filters.rule)
    if filters.team is not None:
        statement = statement.where(conflicts.c.teams_text.contains(f",{filters.team},", autoescape=True))
    if filters.product_id is not None:
        statement = statement.where(conflicts.c.product_id == filters.product_id)
    if filters.store_id is not None:
        statement = statement.where(conflicts.c.store_id == filters.store_id)
    if filters.since is not None:
        statement = statement.where(conflicts.c.detected_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(conflicts.c.detected_at < filters.until)
    if cursor is not None:
        moment, conflict_id = decode_cursor(cursor)
        position = tuple_(conflicts.c.detected_at, conflicts.c.conflict_id)
        after = tuple_(
            literal(moment, conflicts.c.detected_at.type), literal(conflict_id, conflicts.c.conflict_id.type)
        )
        statement = statement.where(position < after)
    return statement.order_by(conflicts.c.detected_at.desc(), conflicts.c.conflict_id.desc()).limit(limit + 1)


async def list_conflicts(
    connection: AsyncConnection, filters: ConflictFilter, *, limit: int, cursor: str | None = None
) -> ConflictPage:
    """One page of the conflicts matching ``filters``, newest first."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = (await connection.execute(_statement(filters, limit, cursor))).all()
    items = [ConflictRecord.from_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].detected_at, items[-1].conflict_id) if len(rows) > limit else None
    return ConflictPage(items, next_cursor)


async def get_conflict(connection: AsyncConnection, conflict_id: uuid.UUID) -> ConflictRecord | None:
    """One conflict with its actions (oldest first), or None."""
    row = (await connection.execute(select(conflicts).where(conflicts.c.conflict_id == conflict_id))).first()
    if row is None:
        return None
    actions = await connection.execute(
        select(conflict_actions).where(conflict_actions.c.conflict_id == conflict_id).order_by(conflict_actions.c.id)
    )
    return ConflictRecord.from_row(
        row,
        tuple(
            ActionRecord(action.action, action.actor, action.note, as_utc(action.at), action.status_after)
            for action in actions
        ),
    )
