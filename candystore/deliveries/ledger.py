"""What one subscription delivered, asked and written in batches: one transaction for many events.

A subscription has up to its concurrency of deliveries in hand, each asking "was this event
delivered?" before it is sent and writing "delivered" after. A statement costs the database
driver far more than a row, so questions and records are gathered: once one arrives, others
are awaited for up to ``LINGER`` seconds (or until ``concurrency`` of them are there), then
all go in one transaction that writes the records and answers the questions. A batch that
fails raises its error in each of its callers; the next batch is tried afresh.
"""

from __future__ import annotations

import asyncio
import uuid

from candystore.store import EventStore
from candystore.store.subscriptions import DeliveryRecord

__all__ = ["LINGER", "DeliveryLedger"]

LINGER = 0.005
"""Seconds a question or a record waits for others to share its transaction: at most a few milliseconds
added to a delivery, for several times fewer round trips while deliveries arrive together."""

_Item = uuid.UUID | DeliveryRecord
"""A question (was this event delivered?) or a record (it was)."""


class DeliveryLedger:
    """Whether ``subscription`` delivered an event, and the record that it did, in shared transactions."""

    def __init__(self, store: EventStore, subscription: str, *, batch: int) -> None:
        self.store = store
        self.subscription = subscription
        self.batch = batch
        self._pending: list[tuple[_Item, asyncio.Future[bool]]] = []
        self._running: asyncio.Task[None] | None = None

    async def delivered(self, event_id: uuid.UUID) -> bool:
        """Whether the event was delivered by this subscription (its record exists)."""
        return await self._submit(event_id)

    async def record(self, record: DeliveryRecord) -> None:
        """Keep the record of a delivery; returns once it is committed."""
        await self._submit(record)

    async def _submit(self, item: _Item) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            # A task of its own: a caller cancelled while waiting must not cancel the batch the others wait for.
            self._running = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._pending:
                if len(self._pending) < self.batch:
                    await asyncio.sleep(LINGER)
                batch, self._pending = self._pending, []
                await self._write(batch)
        finally:
            self._running = None

    async def _write(self, batch: list[tuple[_Item, asyncio.Future[bool]]]) -> None:
        records = [item for item, _ in batch if isinstance(item, DeliveryRecord)]
        questions = list(dict.fromkeys(item for item, _ in batch if isinstance(item, uuid.UUID)))
        try:
            found = await self.store.record_deliveries(records, then_find=(self.subscription, questions))
        except Exception as exc:  # noqa: BLE001 - raised in each caller of the batch, which handles it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for item, future in batch:
            if not future.done():
                future.set_result(isinstance(item, DeliveryRecord) or item in found)
