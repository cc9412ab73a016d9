"""The unrouted drain: what the broker confirmed into ``unrouted.all`` becomes a dead letter with reason ``unrouted``.

The shared topology declares ``candystore.events`` bound to ``#``, so an event lands in
``unrouted.all`` only when that queue was missing at the moment the broker confirmed it
(deleted, or a topology declared without it). Such an event was accepted and must not
sit there unseen: each one is moved to the dead-letter exchange, marked like any dead
letter (``x-bloodbank-consumer: unrouted.all``, ``x-bloodbank-error: unrouted: …``), and
the dead-letter keeper (:mod:`candystore.dead_letters`) keeps it in the database, where it
is listed, replayed and discarded like the others. Going through ``dlq.all`` gives these
letters everything the keeper does for any letter (batches, held during a database
outage, a redelivered one absorbed), and needs no database here.

A message is acknowledged only after the broker confirmed its copy on the dead-letter
exchange; the copy carries no time of its own, so a redelivered message (a crash between
the confirm and the ack) makes the same letter and the keeper absorbs it. When the copy
cannot be published the message is given back after a pause, and comes again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter

from bloodbank import BloodbankError
from bloodbank.topology import DEAD_LETTER_EXCHANGE, STORE_QUEUE, UNROUTED_QUEUE, Headers
from bloodbank.transport import Delivery, OutgoingMessage, Subscription, Transport
from bloodbank.transport.base import HeaderValue

__all__ = ["UNROUTED_REASON", "UnroutedDrain", "unrouted_error"]

log = structlog.get_logger(__name__)

UNROUTED_REASON = "unrouted"
"""How a dead letter's error starts when the broker confirmed its event into ``unrouted.all``."""
PREFETCH = 50
"""Messages moved at once; each waits for its own confirm."""
RETRY_PAUSE = 1.0
"""Seconds a message whose copy could not be published is held before it is given back."""


def unrouted_error(routing_key: str) -> str:
    """The error text of a letter drained from ``unrouted.all``: what happened and what to do."""
    return (
        f"{UNROUTED_REASON}: confirmed by the broker while no queue was bound to {routing_key!r} "
        f"(the store's queue {STORE_QUEUE.name!r} was missing); declare the topology (`bloodbank topology`), "
        "then replay it"
    )


class UnroutedDrain:
    """Moves every message of ``unrouted.all`` to the dead-letter exchange, counting each."""

    def __init__(
        self,
        transport: Transport,
        *,
        registry: CollectorRegistry | None = None,
        publish_timeout: float = 10.0,
        retry_pause: float = RETRY_PAUSE,
    ) -> None:
        self.transport = transport
        self.publish_timeout = publish_timeout
        self.retry_pause = retry_pause
        self.moved = Counter(
            "candystore_unrouted",
            "Events found in unrouted.all (confirmed while no queue was bound) and moved to the dead letters.",
            registry=registry or CollectorRegistry(),
        )
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Start draining ``unrouted.all`` (declared with the topology if it is not yet)."""
        if self._subscription is not None:
            return
        await self.transport.declare_topology()
        self._subscription = await self.transport.consume_queue(UNROUTED_QUEUE, self._move, prefetch=PREFETCH)
        log.info("draining unrouted events into the dead letters", queue=UNROUTED_QUEUE)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish the moves in progress (within ``timeout``), then stop consuming."""
        if self._subscription is not None:
            await self._subscription.stop(timeout=timeout)
            self._subscription = None

    async def _move(self, delivery: Delivery) -> None:
        letter = dead_letter_copy(delivery)
        try:
            await self.transport.publish_batch([letter], timeout=self.publish_timeout)
        except BloodbankError as exc:
            log.warning(
                "moving an unrouted event to the dead letters failed; giving it back",
                event_id=delivery.message_id,
                retry_in=self.retry_pause,
                error=str(exc),
            )
            await asyncio.sleep(self.retry_pause)  # holds a prefetch slot: no hot loop while the broker refuses
            await delivery.release()
            return
        self.moved.inc()
        log.warning(
            "unrouted event moved to the dead letters", event_id=delivery.message_id, event_type=delivery.routing_key
        )
        await delivery.ack()


def dead_letter_copy(delivery: Delivery) -> OutgoingMessage:
    """The dead letter of a message from ``unrouted.all``: its body and headers, marked as unrouted."""
    headers: dict[str, HeaderValue] = {key: _header_value(value) for key, value in delivery.headers.items()}
    headers.update(
        {
            Headers.CONSUMER: UNROUTED_QUEUE,
            Headers.ERROR: unrouted_error(delivery.routing_key),
            Headers.ATTEMPTS: 0,
        }
    )
    return OutgoingMessage(
        body=delivery.body,
        routing_key=f"dlq.{UNROUTED_QUEUE}",
        message_id=delivery.message_id or "",
        headers=headers,
        exchange=DEAD_LETTER_EXCHANGE,
    )


def _header_value(value: Any) -> HeaderValue:
    """A header as the transports carry it: scalars as they are, bytes decoded, anything else as text."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)  # a table, a list, a timestamp: kept readable
