"""One subscription's consumer: the events of ``delivery.{name}`` POSTed to its URL, each at most once after success.

It is a Bloodbank consumer like any other (:func:`bloodbank.subscribe`), so validation, signed
bus messages, retries through the subscription's tiers and dead letters are the platform's::

    not wanted (type or payload filter)   ack, counted as filtered
    delivered before (its record exists)  ack, not sent again (a redelivery after a crash, a replay)
    2xx                                   record (subscription, event id, status, attempt, time), then ack
    408, 429, 5xx, no answer              raise DeliveryFailed: the next tier, after the last a dead letter
    410                                   dead letter at once, and the subscription is disabled
    3xx, other 4xx                        dead letter at once (PermanentFailure) with the status and body

The record is committed before the acknowledgement, so a crash between the two sends nothing
again; a crash between the receiver's answer and the record sends the event once more, with
the same ``webhook-id``, which receivers use to deduplicate. Two copies of one event in hand at
once (it was published twice) go one after the other, so the second finds the first's record.
Checks and records share transactions (:mod:`.ledger`). While the database is down, the
deliveries in hand wait (tried again up to 10 s apart) instead of spending their retry tiers.

The subscription's concurrency bounds the requests in flight to its receiver; four times as
many deliveries are in hand, so that checking and recording never leave a request slot idle.

Exceptions::

    DeliveryFailed (Exception)    an attempt failed in a way a later one may not; the message says how
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
import structlog

from bloodbank import Bus, Event, PermanentFailure, subscribe
from bloodbank.transport import Subscription as Consuming
from candystore.deliveries.ledger import DeliveryLedger
from candystore.deliveries.plan import DeliveryPlan
from candystore.deliveries.sender import Verdict, WebhookSender
from candystore.metrics import DeliveryMetrics, DeliveryOutcome
from candystore.store import DatabaseUnavailable, EventStore
from candystore.store.subscriptions import DeliveryRecord
from gumdrop.backoff import Backoff

__all__ = ["DeliveryFailed", "SubscriptionConsumer"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

OUTAGE_BACKOFF = Backoff(first=0.5, ceiling=10.0)
"""Pauses between attempts to read or write a delivery's record while the database is unavailable."""
PREFETCH_PER_SLOT = 4
"""Deliveries in hand per request slot: while some are sent, others are checked and recorded."""


class DeliveryFailed(Exception):
    """An attempt failed (no answer, 408, 429, 5xx); the event is tried again after the subscription's next tier."""


class SubscriptionConsumer:
    """Delivers one subscription's events, at most ``plan.concurrency`` requests in flight at a time."""

    def __init__(
        self,
        plan: DeliveryPlan,
        *,
        store: EventStore,
        metrics: DeliveryMetrics,
        on_gone: Callable[[str, str], None],
        sender: WebhookSender | None = None,
    ) -> None:
        self.plan = plan
        self.on_gone = on_gone
        self.sender = sender or WebhookSender(plan.url, plan.secret, timeout=plan.timeout, connections=plan.concurrency)
        self.ledger = DeliveryLedger(store, plan.name)
        self._slots = asyncio.Semaphore(plan.concurrency)
        self._in_hand: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}
        """Events being delivered, by id, and how many copies hold or wait for the lock: a second copy arriving
        meanwhile waits, then finds the first's record."""
        # Labelled children looked up once, not per event.
        self._in_flight = metrics.in_flight.labels(plan.name)
        self._duration = metrics.duration.labels(plan.name)
        self._counted = {outcome: metrics.deliveries.labels(plan.name, outcome.value) for outcome in DeliveryOutcome}
        self._consuming: Consuming | None = None

    async def start(self, bus: Bus) -> None:
        """Declare ``delivery.{name}`` with its bindings and retry tiers, and start consuming it."""
        spec = self.plan.spec
        self._consuming = await subscribe(
            bus.transport,
            spec.name,
            spec.bindings,
            self.handle,
            validator=bus.validator,
            prefetch=self.plan.concurrency * PREFETCH_PER_SLOT,
            metrics=bus.metrics,
            spec=spec,
            signatures=bus.signatures,
        )

    async def stop(self, *, timeout: float) -> None:
        """Stop taking events, let the requests in flight finish (up to ``timeout``), close the connections."""
        try:
            if self._consuming is not None:
                await self._consuming.stop(timeout=timeout)
        finally:
            await self.sender.close()

    async def handle(self, event: Event) -> None:
        """Deliver one event (see the module docstring); raising is how the retry or the dead letter is asked."""
        payload = event.document.get("payload")
        if not self.plan.subscription.wants(event.event_type, payload if isinstance(payload, Mapping) else {}):
            self._counted[DeliveryOutcome.FILTERED].inc()
            return
        event_id = uuid.UUID(event.event_id)
        guard, copies = self._in_hand.get(event_id, (asyncio.Lock(), 0))
        self._in_hand[event_id] = (guard, copies + 1)
        try:
            async with guard:
                await self._deliver(event, event_id)
        finally:
            guard, copies = self._in_hand[event_id]
            if copies == 1:
                del self._in_hand[event_id]
            else:
                self._in_hand[event_id] = (guard, copies - 1)

    async def _deliver(self, event: Event, event_id: uuid.UUID) -> None:
        name = self.plan.name
        if await _while_database_down(lambda: self.ledger.delivered(event_id)):
            log.info("delivered before; not sent again", subscription=name)
            self._counted[DeliveryOutcome.SKIPPED_DUPLICATE].inc()
            return
        body = msgspec.json.encode(event.document)
        async with self._slots:
            self._in_flight.inc()
            try:
                answer = await self.sender.send(event.event_id, body)
            finally:
                self._in_flight.dec()
        self._duration.observe(answer.seconds)
        if answer.verdict is Verdict.DELIVERED:
            assert answer.status is not None  # noqa: S101 - a 2xx is an answer
            record = DeliveryRecord(name, event_id, answer.status, event.attempt, datetime.now(UTC))
            await _while_database_down(lambda: self.ledger.record(record))
            self._counted[DeliveryOutcome.DELIVERED].inc()
            return
        if answer.verdict is Verdict.RETRY:
            last = event.attempt >= self.plan.attempts
            self._counted[DeliveryOutcome.DEAD_LETTERED if last else DeliveryOutcome.RETRIED].inc()
            raise DeliveryFailed(answer.reason)
        self._counted[DeliveryOutcome.DEAD_LETTERED].inc()
        if answer.verdict is Verdict.GONE:
            self.on_gone(name, answer.reason)
            raise PermanentFailure(f"{answer.reason}; the subscription is disabled (the receiver is gone)")
        raise PermanentFailure(answer.reason)


async def _while_database_down(operation: Callable[[], Awaitable[T]]) -> T:
    """``operation``'s result, tried again while the database is unavailable (the delivery waits in hand)."""
    failures = 0
    while True:
        try:
            return await operation()
        except DatabaseUnavailable as exc:
            failures += 1
            pause = OUTAGE_BACKOFF.pause(failures)
            log.warning("the database is unavailable; the delivery waits", error=str(exc), retry_in=pause)
            await asyncio.sleep(pause)
