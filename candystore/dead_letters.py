"""The dead-letter keeper: drains Bloodbank's ``dlq.all`` into the ``dead_letters`` table.

Each message becomes an open dead letter with what its ``x-bloodbank-*`` headers say
(consumer, error, attempts, failed-at), the event's id and type when the body decodes,
every header, and the raw body. Letters are written in small batches, one transaction
each, and acknowledged after the commit; a letter delivered again (a crash between
commit and ack) is absorbed by its fingerprint. A database outage holds the letters
like the ingestor holds events (:mod:`candystore.batching`): nothing is acknowledged
until it is kept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from prometheus_client import CollectorRegistry

from bloodbank.topology import DEAD_LETTER_QUEUE, Headers
from bloodbank.transport import Delivery, Subscription, Transport
from candystore.batching import Batcher, Held
from candystore.metrics import DeadLetterMetrics
from candystore.settings import CandystoreSettings
from candystore.store import DeadLetter, DeadLetterState, EventStore, StoreError

__all__ = ["DeadLetterKeeper", "read_dead_letter"]

log = structlog.get_logger(__name__)

BATCH_SIZE = 50
"""Dead letters kept per transaction at most: they are few, and each batch is acknowledged sooner."""


class DeadLetterKeeper:
    """Consumes ``dlq.all`` into an :class:`EventStore`'s dead letters, acknowledging after commit."""

    def __init__(
        self,
        transport: Transport,
        store: EventStore,
        *,
        settings: CandystoreSettings,
        registry: CollectorRegistry | None = None,
        queue: str = DEAD_LETTER_QUEUE,
    ) -> None:
        self.transport = transport
        self.store = store
        self.queue = queue
        self.metrics = DeadLetterMetrics(registry)
        batch_size = min(BATCH_SIZE, settings.batch_size)
        self.batches: Batcher[DeadLetter, int] = Batcher(
            name=queue, write=self._write, settle=self._settle, batch_size=batch_size, batch_wait=settings.batch_wait
        )
        self._prefetch = batch_size * 2
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Start draining the dead-letter queue (declared with the topology if it is not yet)."""
        if self._subscription is not None:
            return
        await self.transport.declare_topology()
        self.batches.start()
        self._subscription = await self.transport.consume_queue(self.queue, self._receive, prefetch=self._prefetch)
        log.info("keeping dead letters", queue=self.queue)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Keep the letters in hand (within ``timeout``), release what could not be kept, stop consuming."""
        await self.batches.stop(timeout=timeout)
        if self._subscription is not None:
            await self._subscription.stop(timeout=timeout)
            self._subscription = None

    def _receive(self, delivery: Delivery) -> None:
        # A plain function: run where the delivery arrives, with no task per letter.
        # Refused once stopping began: left unsettled, the transport gives it back when the subscription stops.
        self.batches.offer(delivery, read_dead_letter(delivery))

    async def _write(self, batch: Sequence[Held[DeadLetter]]) -> int:
        return await self.store.keep_dead_letters([held.value for held in batch])

    async def _settle(self, batch: Sequence[Held[DeadLetter]], added: int) -> None:
        self.metrics.drained.labels("kept").inc(added)
        self.metrics.drained.labels("duplicate").inc(len(batch) - added)
        settled = await asyncio.gather(*(held.delivery.ack() for held in batch), return_exceptions=True)
        for held, outcome in zip(batch, settled, strict=True):
            if isinstance(outcome, BaseException):  # unacknowledged, it comes back and is absorbed
                log.warning("ack failed", queue=self.queue, message_id=held.delivery.message_id, error=str(outcome))
        await self.refresh_counts()

    async def refresh_counts(self) -> None:
        """Set the ``candystore_dead_letters{state}`` gauge from the database (left as it was if that fails)."""
        try:
            counts = await self.store.dead_letter_counts()
        except StoreError as exc:
            log.warning("counting dead letters failed", error=str(exc))
            return
        for state in DeadLetterState:
            self.metrics.by_state.labels(state.value).set(counts.get(state, 0))


def read_dead_letter(delivery: Delivery) -> DeadLetter:
    """What a message from ``dlq.all`` tells: its headers, and the event's id and type if the body decodes.

    Bloodbank's ``x-bloodbank-*`` headers say who failed and why. A message RabbitMQ
    dead-lettered by itself (a quorum queue's delivery limit, for one) has none: its
    ``x-death`` record says which queue and why instead.
    """
    headers = dict(delivery.headers)
    document = _decode(delivery.body)
    event_type = document.get("event_type")
    death = _BrokerDeath.read(headers)
    return DeadLetter(
        body=delivery.body,
        routing_key=delivery.routing_key,
        headers=headers,
        event_id=_uuid(delivery.message_id) or _uuid(document.get("event_id")),
        consumer=_str(headers.get(Headers.CONSUMER)) or death.queue,
        event_type=event_type if isinstance(event_type, str) else None,
        error=_str(headers.get(Headers.ERROR)) or death.error,
        attempts=_int(headers.get(Headers.ATTEMPTS)),
        failed_at=_moment(headers.get(Headers.FAILED_AT)) or death.time,
    )


_BROKER_REASONS = {
    "delivery_limit": (
        "delivery limit exceeded: the queue gave it out more often than its x-delivery-limit allows "
        "(its consumer kept stopping or crashing before settling it)"
    ),
    "rejected": "rejected by its consumer without a reason",
    "expired": "expired in the queue (message TTL)",
    "maxlen": "dropped from a full queue (x-max-length)",
}


@dataclass(frozen=True, slots=True)
class _BrokerDeath:
    """What RabbitMQ records on a message it dead-letters itself: the queue and reason of its first
    death (``x-first-death-*``), the time of its latest (``x-death`` lists the latest first)."""

    queue: str | None = None
    error: str | None = None
    time: datetime | None = None

    @classmethod
    def read(cls, headers: dict[str, Any]) -> _BrokerDeath:
        deaths = headers.get("x-death")
        first = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
        queue = _str(headers.get("x-first-death-queue")) or _str(first.get("queue"))
        reason = _str(headers.get("x-first-death-reason")) or _str(first.get("reason"))
        if reason is None:
            return cls(queue)
        error = _BROKER_REASONS.get(reason, f"dead-lettered by RabbitMQ: {reason}")
        return cls(queue, f"{error} [RabbitMQ: {reason}]", _moment(first.get("time")))


def _decode(body: bytes) -> dict[str, Any]:
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _str(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
