"""The dead-letter keeper: drains Bloodbank's ``dlq.all`` into the ``dead_letters`` table.

Each message becomes an open dead letter with what its ``x-bloodbank-*`` headers say
(consumer, error, attempts, failed-at), the event's id and type when the body decodes,
every header, and the raw body. Letters are written in small batches, one transaction
each, and acknowledged after the commit; a letter delivered again (a crash between
commit and ack) is absorbed by its fingerprint. A database outage holds the letters
like the ingestor holds events (:mod:`candystore.batching`): nothing is acknowledged
until it is kept.

A letter the database refuses (an attempts header past the integer range, an event type
too long for its index…) must not hold the others, and there is no dead-letter queue for
the dead-letter queue: the batch is bisected until that letter is found, and it is kept
in its reduced form (:func:`reduced_dead_letter`): the raw body, the event id, consumer
and type cut short, its headers replaced by a note saying why, and an error saying it was
reduced. Should even that fail, the database being down releases the letter (nothing is
wrong with it: it comes back once the database does and the batches are held meanwhile);
anything else drops it: it is logged (id, routing key, body size, both reasons) and
acknowledged, because released it would come back at once to fail the same way, forever.
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
from candystore.store import DatabaseUnavailable, DeadLetter, DeadLetterState, EventStore, StoreError

__all__ = ["REDUCED_HEADER", "DeadLetterKeeper", "read_dead_letter", "reduced_dead_letter"]

log = structlog.get_logger(__name__)

BATCH_SIZE = 50
"""Dead letters kept per transaction at most: they are few, and each batch is acknowledged sooner."""
REDUCED_HEADER = "x-candystore-reduced"
"""The one header of a letter kept in its reduced form: why its own headers could not be kept."""
SHORT_TEXT = 200
"""Characters kept of a reduced letter's consumer, event type and routing key: well within an index row."""


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
            name=queue,
            write=self._write,
            settle=self._settle,
            reject=self._keep_reduced,
            batch_size=batch_size,
            batch_wait=settings.batch_wait,
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
        try:
            letter = read_dead_letter(delivery)
        except Exception as exc:  # a bug in reading: the letter is kept all the same, in its reduced form
            log.exception("reading a dead letter failed", queue=self.queue, event_id=delivery.message_id)
            letter = reduced_dead_letter(DeadLetter(delivery.body, delivery.routing_key, {}), _describe(exc))
        self.batches.offer(delivery, letter)

    async def _write(self, batch: Sequence[Held[DeadLetter]]) -> int:
        return await self.store.keep_dead_letters([held.value for held in batch])

    async def _settle(self, batch: Sequence[Held[DeadLetter]], added: int) -> None:
        self.metrics.drained.labels("kept").inc(added)
        self.metrics.drained.labels("duplicate").inc(len(batch) - added)
        settled = await asyncio.gather(*(held.delivery.ack() for held in batch), return_exceptions=True)
        for held, outcome in zip(batch, settled, strict=True):
            if isinstance(outcome, BaseException):  # unacknowledged, it comes back and is absorbed
                log.warning("ack failed", queue=self.queue, event_id=held.delivery.message_id, error=str(outcome))
        await self.refresh_counts()

    async def _keep_reduced(self, held: Held[DeadLetter], reason: str) -> None:
        """A letter the database refused on its own: kept reduced, or else released or dropped (see the module)."""
        delivery = held.delivery
        try:
            added = await self.store.keep_dead_letters([reduced_dead_letter(held.value, reason)])
        except DatabaseUnavailable as exc:
            log.warning(
                "keeping a reduced dead letter failed; releasing it", event_id=delivery.message_id, error=str(exc)
            )
            await delivery.release()
            return
        except Exception as exc:  # whatever it is, it would fail the same way on every delivery
            log.exception(
                "dead letter dropped: neither it nor its reduced form can be kept",
                queue=self.queue,
                event_id=delivery.message_id,
                routing_key=delivery.routing_key,
                body_bytes=len(delivery.body),
                error=reason,
                reduced_error=_describe(exc),
            )
            self.metrics.drained.labels("dropped").inc()
            await delivery.ack()
            return
        self.metrics.drained.labels("reduced" if added else "duplicate").inc()
        await delivery.ack()
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


def reduced_dead_letter(letter: DeadLetter, reason: str) -> DeadLetter:
    """The form of ``letter`` that can always be kept: its raw body and event id, short texts, a note for headers.

    The attempts and failed-at (numbers and times the database may not hold) are dropped;
    the consumer, event type and routing key are cut short. The note depends only on the
    letter and ``reason``, so a redelivered letter is absorbed as usual.
    """
    note = f"kept reduced: the letter as received could not be stored ({_storable(reason)})"
    return DeadLetter(
        body=letter.body,
        routing_key=_storable(letter.routing_key, SHORT_TEXT),
        headers={REDUCED_HEADER: f"{note}; its headers are replaced by this note, the body is as received"},
        event_id=letter.event_id,
        consumer=None if letter.consumer is None else _storable(letter.consumer, SHORT_TEXT),
        event_type=None if letter.event_type is None else _storable(letter.event_type, SHORT_TEXT),
        error=f"{note}; its error: {_storable(letter.error or 'none given', 2000)}",
    )


def _storable(text: str, limit: int = 1000) -> str:
    """``text`` cut to ``limit`` characters, with no lone surrogate (UTF-8 cannot encode one)."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


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
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a moment past the range of UTC times
        return None
