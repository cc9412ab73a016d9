"""Following live events: copies of new messages, in memory only, like RabbitMQ's temporary queue.

A tail never stores anything and takes no part in routing: a message only a tail would
see is still reported ``routed=False`` and kept in ``unrouted.all``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import structlog

from bloodbank.topology import matches
from bloodbank.transport.base import Delivery, DeliveryHandler, HeaderValue, OutgoingMessage, Subscription

__all__ = ["Tail", "TailDelivery"]

log = structlog.get_logger(__name__)

BACKLOG = 10_000
"""Copies a tail holds for a slow handler; beyond that new ones are dropped (and counted in the log)."""


class TailDelivery(Delivery):
    """A copy of a published message; nothing to settle, so every settlement is a no-op."""

    def __init__(self, message: OutgoingMessage) -> None:
        self.body = message.body
        self.routing_key = message.routing_key
        self.message_id = message.message_id
        self.headers = dict(message.headers)
        self.redelivered = False

    async def ack(self) -> None:
        pass

    async def retry(self, *, delay: float, headers: Mapping[str, HeaderValue]) -> None:
        pass

    async def dead_letter(self, *, headers: Mapping[str, HeaderValue]) -> None:
        pass

    async def release(self) -> None:
        pass


class Tail(Subscription):
    """Gives a handler, one at a time and in publish order, copies of new messages matching ``patterns``."""

    def __init__(self, patterns: Sequence[str], handler: DeliveryHandler, *, on_stop: Callable[[Tail], None]) -> None:
        if not patterns:
            raise ValueError("tail needs at least one pattern, e.g. '#'")
        self._patterns = tuple(patterns)
        self._handler = handler
        self._on_stop = on_stop
        self._wanted: dict[str, bool] = {}  # routing key -> matches a pattern
        self._backlog: asyncio.Queue[TailDelivery] = asyncio.Queue(BACKLOG)
        self._dropped = 0
        self._busy = False
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"bloodbank-embedded tail {','.join(self._patterns)}")

    def offer(self, message: OutgoingMessage) -> None:
        """Take a copy of ``message`` if its routing key matches."""
        key = message.routing_key
        wanted = self._wanted.get(key)
        if wanted is None:
            wanted = self._wanted[key] = any(matches(pattern, key) for pattern in self._patterns)
        if not wanted or self._stopping:
            return
        try:
            self._backlog.put_nowait(TailDelivery(message))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped % BACKLOG == 1:
                log.warning("tail handler too slow: dropping copies", patterns=self._patterns, dropped=self._dropped)

    async def stop(self, *, timeout: float = 30.0) -> None:
        self._stopping = True
        self._on_stop(self)
        if not self._busy:
            self._task.cancel()
        await asyncio.wait({self._task}, timeout=timeout)
        self._task.cancel()
        await asyncio.wait({self._task})

    async def _run(self) -> None:
        while not self._stopping:
            delivery = await self._backlog.get()
            self._busy = True
            try:
                pending = self._handler(delivery)
                if pending is not None:
                    await pending
            except Exception:
                log.exception("tail handler failed", patterns=self._patterns, routing_key=delivery.routing_key)
            finally:
                self._busy = False
