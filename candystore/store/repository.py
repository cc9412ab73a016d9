"""The event store: one object over an async engine, speaking envelopes and candystore errors only.

Every method runs in its own transaction; SQLAlchemy and driver exceptions are
translated here, at the boundary, into :mod:`candystore.store.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from candystore.store.dead_letters import DeadLetter, insert_dead_letters
from candystore.store.engine import create_engine
from candystore.store.errors import DatabaseUnavailable, StoreError
from candystore.store.queries import EventFilter, Page, get_event, query_events
from candystore.store.retention import purge_events
from candystore.store.trace import Trace, trace_event
from candystore.store.writes import StoreResult, write_batch

__all__ = ["EventStore"]

_NO_FILTER = EventFilter()


def _translate(exc: BaseException) -> StoreError:
    if isinstance(exc, PoolTimeout | OSError | TimeoutError):
        return DatabaseUnavailable(f"the database is unavailable: {exc}")
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        if "no such table" in reason:  # SQLite reports a missing table as an OperationalError
            return StoreError(f"the store's tables are missing ({reason}): run `candystore migrate`")
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return DatabaseUnavailable(f"the database is unavailable: {reason}")
        return StoreError(f"the database refused the operation: {reason}")
    return StoreError(f"the store failed: {exc}")


class EventStore:
    """Stores, reads, traces and purges events in one database (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, connect_args: Mapping[str, Any] | None = None) -> EventStore:
        """A store on ``url`` (no connection is made until it is used); the schema must be migrated."""
        return cls(create_engine(url, connect_args=connect_args))

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as connection:
                yield connection
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc

    async def ping(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless the database answers."""
        async with self._transaction() as connection:
            await connection.execute(text("SELECT 1"))

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        """Store decoded envelopes in one transaction; one result per envelope, in order.

        New events are stored, exact duplicates absorbed; an id reused with different
        content is reported as a conflict and not stored (the first one is kept).
        """
        async with self._transaction() as connection:
            return await write_batch(connection, envelopes)

    async def keep_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Keep dead letters as open rows in one transaction; one already kept is absorbed. Returns rows added."""
        async with self._transaction() as connection:
            return await insert_dead_letters(connection, letters, received_at=datetime.now(UTC))

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """The envelope as published (timestamp in UTC), or None when no such event is stored."""
        async with self._transaction() as connection:
            return await get_event(connection, event_id)

    async def query(
        self,
        filters: EventFilter = _NO_FILTER,
        *,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        """A page of matching envelopes in (timestamp, event_id) order; pass ``next_cursor`` for the next."""
        async with self._transaction() as connection:
            return await query_events(connection, filters, limit=limit, cursor=cursor, descending=descending)

    async def trace(self, event_id: str, *, max_nodes: int = 1000) -> Trace | None:
        """The causation graph around ``event_id`` (at most ``max_nodes`` nodes), or None if unknown."""
        async with self._transaction() as connection:
            return await trace_event(connection, event_id, max_nodes=max_nodes)

    async def purge(self, days_by_pattern: Mapping[str, int], *, now: datetime | None = None) -> dict[str, int]:
        """Delete events older than the retention of their type pattern; returns the count per type."""
        async with self._transaction() as connection:
            return await purge_events(connection, days_by_pattern, now=now or datetime.now(UTC))
