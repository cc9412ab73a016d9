"""The event store: one object over async engines, speaking envelopes and candystore errors only.

Every method that writes more than one statement runs in its own transaction; on
PostgreSQL, reads and batches of events (one statement) go through connections where
each statement commits by itself (:func:`~candystore.store.engine.create_autocommit_engine`).
SQLAlchemy and driver exceptions are translated here, at the boundary, into
:mod:`candystore.store.errors`, classified by what caused them: the infrastructure or the data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from candystore.store.dead_letter_reasons import DeadLetterReason, count_open_reasons
from candystore.store.dead_letters import (
    DeadLetter,
    DeadLetterFilter,
    DeadLetterPage,
    DeadLetterRecord,
    DeadLetterState,
    close_dead_letter,
    count_dead_letters,
    get_dead_letter,
    insert_dead_letters,
    list_dead_letters,
)
from candystore.store.engine import create_autocommit_engine, create_engine
from candystore.store.errors import translate
from candystore.store.queries import EventFilter, Page, get_event, query_events
from candystore.store.retention import purge_events
from candystore.store.schema import events
from candystore.store.series import Series, compute_series
from candystore.store.stats import Stats, compute_stats, count_events
from candystore.store.subscriptions import (
    DeliveryRecord,
    SubscriptionRecord,
    delete_subscription,
    delivered_events,
    get_subscription,
    insert_deliveries,
    insert_subscription,
    list_subscriptions,
    purge_deliveries,
    update_subscription,
)
from candystore.store.trace import Trace, trace_event
from candystore.store.writes import StoreResult, write_batch

__all__ = ["EventStore"]

T = TypeVar("T")

_NO_FILTER = EventFilter()
_NO_LETTER_FILTER = DeadLetterFilter()


@contextmanager
def _translated() -> Iterator[None]:
    """SQLAlchemy's, the driver's and the network's errors raised as :mod:`candystore.store.errors`."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError, OverflowError) as exc:  # OverflowError: sqlite3's own check
        raise translate(exc) from exc


class EventStore:
    """Stores, reads, traces and purges events, keeps and works dead letters, and keeps the outbound delivery
    subscriptions and what they delivered, in one database."""

    def __init__(self, engine: AsyncEngine, *, autocommit_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.autocommit_engine = autocommit_engine
        """Where batches are written and reads made, if given (see ``create_autocommit_engine``)."""

    @classmethod
    def open(cls, url: str, *, connect_args: Mapping[str, Any] | None = None) -> Self:
        """A store on ``url`` (no connection is made until it is used); the schema must be migrated."""
        return cls(
            create_engine(url, connect_args=connect_args),
            autocommit_engine=create_autocommit_engine(url, connect_args=connect_args),
        )

    async def close(self) -> None:
        await self.engine.dispose()
        if self.autocommit_engine is not None:
            await self.autocommit_engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        with _translated():
            async with self.engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def _statements(self) -> AsyncIterator[AsyncConnection]:
        """Where each statement commits by itself (PostgreSQL), or else a transaction; errors untranslated."""
        if self.autocommit_engine is None:
            async with self.engine.begin() as connection:
                yield connection
        else:
            async with self.autocommit_engine.connect() as connection:
                yield connection

    async def _read(self, operation: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read-only ``operation`` (see ``_statements``).

        A pooled connection found dead on the autocommit engine (the database restarted) has
        emptied the pool: the read is made once more on a fresh connection, as a ping would
        have made sure.
        """
        with _translated():
            try:
                async with self._statements() as connection:
                    return await operation(connection)
            except DBAPIError as exc:
                if self.autocommit_engine is None or not exc.connection_invalidated:
                    raise
            async with self._statements() as connection:
                return await operation(connection)

    async def ping(self) -> None:
        """Raise :class:`DatabaseUnavailable` unless the database answers."""
        await self._read(lambda connection: connection.execute(text("SELECT 1")))

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        """Store decoded envelopes in one transaction; one result per envelope, in order.

        New events are stored, exact duplicates absorbed; an id reused with different
        content is reported as a conflict and not stored (the first one is kept). A stale
        connection makes it fail (``DatabaseUnavailable``): the batcher writes it again.
        """
        with _translated():
            async with self._statements() as connection:  # on PostgreSQL one statement: see write_batch
                return await write_batch(connection, envelopes)

    async def keep_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Keep dead letters as open rows in one transaction; one already kept is absorbed. Returns rows added."""
        async with self._transaction() as connection:
            return await insert_dead_letters(connection, letters, received_at=datetime.now(UTC))

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """The envelope as published (timestamp in UTC), or None when no such event is stored."""
        return await self._read(lambda connection: get_event(connection, event_id))

    async def document(self, event_id: str | uuid.UUID) -> str | None:
        """The stored JSON text of an event, byte for byte as ``get`` decodes it, or None when not stored."""
        try:
            key = event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(event_id)
        except ValueError:
            return None

        async def read(connection: AsyncConnection) -> str | None:
            found = await connection.execute(select(events.c.document).where(events.c.event_id == key))
            return found.scalar_one_or_none()

        return await self._read(read)

    async def query(
        self,
        filters: EventFilter = _NO_FILTER,
        *,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        """A page of matching envelopes in (timestamp, event_id) order; pass ``next_cursor`` for the next."""
        return await self._read(
            lambda connection: query_events(connection, filters, limit=limit, cursor=cursor, descending=descending)
        )

    async def trace(self, event_id: str, *, max_nodes: int = 1000) -> Trace | None:
        """The causation graph around ``event_id`` (at most ``max_nodes`` nodes), or None if unknown."""
        return await self._read(lambda connection: trace_event(connection, event_id, max_nodes=max_nodes))

    async def purge(self, days_by_pattern: Mapping[str, int], *, now: datetime | None = None) -> dict[str, int]:
        """Delete events older than the retention of their type pattern; returns the count per type."""
        async with self._transaction() as connection:
            return await purge_events(connection, days_by_pattern, now=now or datetime.now(UTC))

    async def count(self, filters: EventFilter = _NO_FILTER) -> int:
        """How many stored events match ``filters``."""
        return await self._read(lambda connection: count_events(connection, filters))

    async def stats(self, *, since: datetime, until: datetime, now: datetime | None = None) -> Stats:
        """Counts by type, source and hour in ``[since, until)``, rates at ``now``, dead letters by state."""
        at = now or datetime.now(UTC)
        return await self._read(lambda connection: compute_stats(connection, since=since, until=until, now=at))

    async def series(self, *, hours: int, now: datetime | None = None) -> Series:
        """Per-minute counts, latency percentiles and lag of the ``hours`` before ``now``."""
        at = now or datetime.now(UTC)
        return await self._read(lambda connection: compute_series(connection, hours=hours, now=at))

    async def dead_letters(
        self,
        filters: DeadLetterFilter = _NO_LETTER_FILTER,
        *,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = True,
    ) -> DeadLetterPage:
        """A page of matching dead letters, newest first (oldest first unless ``descending``)."""
        return await self._read(
            lambda connection: list_dead_letters(connection, filters, limit=limit, cursor=cursor, descending=descending)
        )

    async def dead_letter(self, letter_id: str | uuid.UUID) -> DeadLetterRecord | None:
        """One dead letter by its id, or None."""
        return await self._read(lambda connection: get_dead_letter(connection, letter_id))

    async def resolve_dead_letter(
        self, letter_id: str | uuid.UUID, *, actor: str, replayed_event_id: str, note: str | None = None
    ) -> DeadLetterRecord | None:
        """Mark an open dead letter resolved (replayed as ``replayed_event_id``); None if unknown.

        Raises :class:`~candystore.store.dead_letters.DeadLetterNotOpen` when it is no longer open.
        """
        async with self._transaction() as connection:
            return await close_dead_letter(
                connection,
                letter_id,
                state=DeadLetterState.RESOLVED,
                actor=actor,
                at=datetime.now(UTC),
                note=note,
                replayed_event_id=replayed_event_id,
            )

    async def discard_dead_letter(
        self, letter_id: str | uuid.UUID, *, actor: str, reason: str
    ) -> DeadLetterRecord | None:
        """Discard an open dead letter (kept for audit with who and why); None if unknown.

        Raises :class:`~candystore.store.dead_letters.DeadLetterNotOpen` when it is no longer open.
        """
        async with self._transaction() as connection:
            return await close_dead_letter(
                connection, letter_id, state=DeadLetterState.DISCARDED, actor=actor, at=datetime.now(UTC), note=reason
            )

    async def dead_letter_counts(self) -> dict[DeadLetterState, int]:
        """How many dead letters are in each state."""
        return await self._read(count_dead_letters)

    async def open_dead_letter_reasons(self) -> list[DeadLetterReason]:
        """The open dead letters by consumer and reason (the error up to its first colon), most first."""
        return await self._read(count_open_reasons)

    # --- outbound delivery subscriptions ---------------------------------------------------------

    async def subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription made through the API, by name."""
        return await self._read(list_subscriptions)

    async def subscription(self, name: str) -> SubscriptionRecord | None:
        return await self._read(lambda connection: get_subscription(connection, name))

    async def add_subscription(self, record: SubscriptionRecord) -> bool:
        """Keep a new subscription; False (and nothing kept) when its name is taken."""
        async with self._transaction() as connection:
            return await insert_subscription(connection, record)

    async def change_subscription(self, name: str, values: Mapping[str, Any]) -> SubscriptionRecord | None:
        """Change the given columns of a subscription; the changed record, or None when there is no such one."""
        async with self._transaction() as connection:
            return await update_subscription(connection, name, values)

    async def remove_subscription(self, name: str) -> SubscriptionRecord | None:
        """Delete a subscription and the record of what it delivered; the deleted record, or None."""
        async with self._transaction() as connection:
            return await delete_subscription(connection, name)

    async def delivered(self, subscription: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``event_ids`` that ``subscription`` delivered already."""
        return await self._read(lambda connection: delivered_events(connection, subscription, event_ids))

    async def record_deliveries(self, records: Sequence[DeliveryRecord]) -> None:
        """Remember deliveries, all or none (committed when this returns; on PostgreSQL one statement)."""
        with _translated():
            async with self._statements() as connection:
                await insert_deliveries(connection, records)

    async def forget_deliveries(self, *, before: datetime) -> int:
        """Delete the delivery records older than ``before``; how many there were."""
        async with self._transaction() as connection:
            return await purge_deliveries(connection, before=before)
