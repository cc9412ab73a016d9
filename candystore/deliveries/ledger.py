"""What one subscription delivered, asked and written in batches: one statement for many events.

A subscription has up to its prefetch of deliveries in hand, each asking "was this event
delivered?" before it is sent and writing "delivered" after. A statement costs the database
driver far more than a row, so questions are gathered into one query and records into one
transaction. Questions and records travel in two lanes of their own: a read never waits for
a commit, and on SQLite (one writer) reads go beside the write. Each lane sends what arrived
while its previous statement ran, after one turn of the event loop to let a burst arrive
together. A batch that fails raises its error in each of its callers; the next one is tried
afresh.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from candystore.store import EventStore
from candystore.store.subscriptions import DeliveryRecord

__all__ = ["DeliveryLedger"]

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class _Lane(Generic[Item, Answer]):
    """Items submitted one by one, handled ``handle(items)`` at a time, one batch after the other."""

    def __init__(self, handle: Callable[[list[Item]], Awaitable[Callable[[Item], Answer]]]) -> None:
        self._handle = handle
        self._pending: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            # A task of its own: a caller cancelled while waiting must not cancel the batch the others wait for.
            self._running = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            await asyncio.sleep(0)
            while self._pending:
                batch, self._pending = self._pending, []
                await self._settle(batch)
        finally:
            self._running = None

    async def _settle(self, batch: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        try:
            answer = await self._handle([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - raised in each caller of the batch, which handles it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for item, future in batch:
            if not future.done():
                future.set_result(answer(item))


class DeliveryLedger:
    """Whether ``subscription`` delivered an event, and the record that it did, in shared statements."""

    def __init__(self, store: EventStore, subscription: str) -> None:
        self.store = store
        self.subscription = subscription
        self._questions: _Lane[uuid.UUID, bool] = _Lane(self._find)
        self._records: _Lane[DeliveryRecord, None] = _Lane(self._write)

    async def delivered(self, event_id: uuid.UUID) -> bool:
        """Whether the event was delivered by this subscription (its record exists)."""
        return await self._questions.submit(event_id)

    async def record(self, record: DeliveryRecord) -> None:
        """Keep the record of a delivery; returns once it is committed."""
        await self._records.submit(record)

    async def _find(self, event_ids: Sequence[uuid.UUID]) -> Callable[[uuid.UUID], bool]:
        found = await self.store.delivered(self.subscription, list(dict.fromkeys(event_ids)))
        return found.__contains__

    async def _write(self, records: Sequence[DeliveryRecord]) -> Callable[[DeliveryRecord], None]:
        await self.store.record_deliveries(records)
        return lambda _record: None
