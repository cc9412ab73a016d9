"""Publishing the bus outbox: at once after each commit, and again from a periodic sweep.

The events handed to :meth:`OutboxPublisher.notify` are published right after the
commit that wrote them. Whatever could not be published then (broker down, process
stopped) stays unpublished in the outbox and the sweep publishes it, with the same
``event_id``, ``timestamp`` and content, so a repeat is an exact duplicate that
consumers (and Candystore) absorb.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bloodbank import BloodbankError, Bus
from bloodbank.envelope import default_source
from holyfields import InvalidEvent
from visibility.store import StoreError, VisibilityStore
from visibility.store.outbox import OutboxEvent

__all__ = ["OutboxPublisher", "bus_sender"]

log = structlog.get_logger(__name__)

Sender = Callable[[OutboxEvent], Awaitable[None]]
"""Publishes one outbox event; raises when it was not confirmed."""


def bus_sender(bus: Bus, *, app: str = "visibility") -> Sender:
    """Publish outbox events on ``bus`` as ``app``, each with its own id, timestamp and causes."""
    source: dict[str, Any] = default_source(app)

    async def send(event: OutboxEvent) -> None:
        await bus.publish(
            event.event_type,
            event.payload,
            correlation_ids=list(event.correlation_ids),
            event_id=event.event_id,
            timestamp=event.created_at,
            source=source,
        )

    return send


class OutboxPublisher:
    """Publishes the outbox's events through ``send`` and marks them published."""

    def __init__(
        self,
        store: VisibilityStore,
        send: Sender,
        *,
        interval: float = 5.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.send = send
        self.interval = interval
        self._now = now or (lambda: datetime.now(UTC))
        self._queue: asyncio.Queue[list[OutboxEvent]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def notify(self, events: Iterable[OutboxEvent]) -> None:
        """Publish these (just committed) events soon."""
        batch = list(events)
        if batch:
            self._queue.put_nowait(batch)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="visibility-outbox")

    async def stop(self) -> None:
        """Publish what was notified already (a last attempt), then stop; the rest waits in the outbox."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pending: list[OutboxEvent] = []
        while not self._queue.empty():
            pending.extend(self._queue.get_nowait())
        if pending:
            with contextlib.suppress(StoreError):
                await self.publish(pending)

    async def _run(self) -> None:
        while True:
            try:
                batch = await asyncio.wait_for(self._queue.get(), timeout=self.interval)
            except TimeoutError:
                await self.sweep()
                continue
            while not self._queue.empty():
                batch.extend(self._queue.get_nowait())
            try:
                await self.publish(batch)
            except StoreError as exc:  # published but not marked: the sweep publishes them again, harmlessly
                log.warning("could not mark events published", error=str(exc))

    async def sweep(self) -> int:
        """Publish what is still unpublished a while after it was written; returns how many were published."""
        try:
            waiting = await self.store.unpublished(limit=200)
        except StoreError as exc:
            log.warning("could not read the outbox", error=str(exc))
            return 0
        settled = self._now() - timedelta(seconds=self.interval)
        due = [event for event in waiting if event.created_at <= settled]
        try:
            return await self.publish(due)
        except StoreError as exc:
            log.warning("could not mark events published", error=str(exc))
            return 0

    async def publish(self, events: list[OutboxEvent]) -> int:
        """Publish ``events`` in order and mark the confirmed ones; returns how many were confirmed."""
        published: list[str] = []
        for event in events:
            try:
                await self.send(event)
            except (BloodbankError, InvalidEvent) as exc:
                log.warning("publishing failed; kept in the outbox", event_id=event.event_id, error=str(exc))
                with contextlib.suppress(StoreError):
                    await self.store.mark_publish_failed(event.event_id, error=f"{type(exc).__name__}: {exc}")
                if not isinstance(exc, InvalidEvent):
                    break  # the broker is down: the rest waits for the sweep
                continue
            published.append(event.event_id)
        if published:
            await self.store.mark_published(published, at=self._now())
        return len(published)
