"""Keyset pagination: pages of rows in (time, id) order, each continued by an opaque cursor.

A cursor is the last row's time and id (``[iso time, uuid hex]`` as JSON, base64url without
padding); the next page starts strictly after it in the list's order, so rows written in
between never shift a page. A cursor the store did not issue (garbage, a forged time it cannot
hold, a bad id) is refused with :class:`~gumdrop.store_errors.InvalidCursor`, which the APIs
answer with 422 on ``query.cursor``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row, Select, literal, tuple_

from gumdrop.store_errors import InvalidCursor
from gumdrop.utc import as_utc

__all__ = ["Keyset"]


@dataclass(frozen=True, slots=True)
class Keyset:
    """Pages of a query ordered by ``time`` then ``id``; ``parse_time`` reads a cursor's time back.

    ``parse_time`` is the parser of every timestamp the store accepts: a forged time outside
    what the store holds is refused, never overflowed in a query.
    """

    time: ColumnElement[datetime]
    id: ColumnElement[uuid.UUID]
    parse_time: Callable[[str], datetime]

    def page(self, statement: Select[Any], *, limit: int, cursor: str | None, descending: bool) -> Select[Any]:
        """``statement`` from after ``cursor``, in order, one row more than ``limit`` (telling whether more follow)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if cursor is not None:
            moment, row_id = self.decode(cursor)
            position = tuple_(self.time, self.id)
            after = tuple_(literal(moment, self.time.type), literal(row_id, self.id.type))
            statement = statement.where(position < after if descending else position > after)
        order = (self.time.desc(), self.id.desc()) if descending else (self.time, self.id)
        return statement.order_by(*order).limit(limit + 1)

    def next_cursor(self, rows: Sequence[Row[Any]], limit: int) -> str | None:
        """The cursor of the page after ``rows`` (what :meth:`page` selected), or None on the last page."""
        if len(rows) <= limit:
            return None
        last = rows[limit - 1]._mapping  # noqa: SLF001 - public in SQLAlchemy, underscored against column names
        return self.encode(last[self.time], last[self.id])

    def encode(self, moment: datetime, row_id: uuid.UUID) -> str:
        raw = msgspec.json.encode([as_utc(moment).isoformat(), row_id.hex])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[datetime, uuid.UUID]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            moment, row_id = msgspec.json.decode(raw, type=tuple[str, str])
            return self.parse_time(moment), uuid.UUID(hex=row_id)
        except (binascii.Error, msgspec.DecodeError, ValueError) as exc:
            raise InvalidCursor(cursor) from exc
