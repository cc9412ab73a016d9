"""The batching consumer: every event on the bus into the store, acknowledged only after its commit.

The consumer queue ``candystore.events`` is bound to ``#``. Each delivery is decoded and
validated at once; an invalid one is dead-lettered there and then, and so is, with signing
keys, one whose signature does not verify (``BadSignature: …``, :mod:`bloodbank.signing`). Valid events are
written in batches (``batch_size`` / ``batch_wait`` from the settings), one transaction
per batch, and settled after the commit::

    stored, duplicate  → ack
    conflict           → dead_letter: "event id reused with different content: …" (the first is kept)
    invalid            → dead_letter: "not storable: …" (no UUID id, bad timestamp…)

A database outage holds the batch (see :mod:`candystore.batching`): no ack, nothing
dead-lettered, attempts spaced up to 10 s apart, resumed by itself. A batch that fails
for any other reason (the database refused one event's data, or an unexpected error) is
bisected until the events at fault are found: each is dead-lettered with the reason
("not storable: RecordRejected: …") and counted as ``invalid``, and the rest are stored.

``on_committed``, when given, is called after each commit with the envelopes that batch
newly stored (not the duplicates), e.g. :meth:`candystore.live.LiveHub.publish`. It runs
in the consuming loop and must not block; if it raises, the error is logged and
ingestion goes on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec
from bloodbank.signing import MessageSignatures
from bloodbank.topology import STORE_QUEUE, Headers
from bloodbank.tracing import DeliverySpans
from bloodbank.transport import Delivery, Subscription, Transport
from candystore.batching import Batcher, Held
from candystore.metrics import IngestMetrics
from candystore.settings import CandystoreSettings
from candystore.store import EventStore, Outcome, StoreResult
from candystore.store.writes import normalise_timestamp
from holyfields import EventValidator, InvalidEvent, default_validator

__all__ = ["CONSUMER", "Ingestor"]

log = structlog.get_logger(__name__)

CONSUMER = STORE_QUEUE
"""Candystore's consumer queue: every event on the main exchange, declared with the shared topology."""

_Document = dict[str, Any]


class Ingestor:
    """Consumes ``candystore.events`` into an :class:`EventStore`, in batches, acknowledging after commit.

    With ``signatures`` (the bus's), only messages whose signature verifies are stored.
    """

    def __init__(
        self,
        transport: Transport,
        store: EventStore,
        *,
        settings: CandystoreSettings,
        validator: EventValidator | None = None,
        registry: CollectorRegistry | None = None,
        spec: ConsumerSpec = CONSUMER,
        on_committed: Callable[[Sequence[_Document]], None] | None = None,
        signatures: MessageSignatures | None = None,
    ) -> None:
        self.transport = transport
        self.signatures = signatures
        self.on_committed = on_committed
        self.store = store
        self.spec = spec
        self.validator = validator or default_validator()
        self.metrics = IngestMetrics(registry)
        self.batches: Batcher[_Document, list[StoreResult]] = Batcher(
            name=spec.name,
            write=self._write,
            settle=self._settle,
            reject=self._reject,
            batch_size=settings.batch_size,
            batch_wait=settings.batch_wait,
            writers=settings.writers,
        )
        self._prefetch = settings.prefetch
        self._subscription: Subscription | None = None
        self._refusing: set[asyncio.Task[None]] = set()  # invalid events on their way to the dead letters
        self.spans = DeliverySpans(spec.name, transport=transport.name)

    async def start(self) -> None:
        """Declare the topology and the consumer queue (idempotent), then start consuming."""
        if self._subscription is not None:
            return
        await self.transport.declare_topology()
        await self.transport.declare_consumer(self.spec)
        self.batches.start()
        self._subscription = await self.transport.consume(self.spec, self._receive, prefetch=self._prefetch)
        log.info("ingesting", queue=self.spec.name, prefetch=self._prefetch)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Store the batch in hand (within ``timeout``), release what could not be stored, stop consuming."""
        await self.batches.stop(timeout=timeout)
        if self._refusing:
            await asyncio.wait(self._refusing, timeout=timeout)
        if self._subscription is not None:
            await self._subscription.stop(timeout=timeout)
            self._subscription = None
        self.spans.close()

    def _receive(self, delivery: Delivery) -> None:
        """Decode, validate, hand over to the batcher: nothing here waits, so no task is made per event."""
        if self.batches.stopping:
            return  # left unsettled: the transport gives it back when the subscription stops
        if self.signatures is not None:  # before parsing: nothing of an unverified body is trusted, nor stored
            refused = self.signatures.verify(delivery.body, delivery.headers)
            if refused is not None:
                self.metrics.signatures_refused.inc()
                self._refuse_at_once(delivery, f"BadSignature: {refused}")
                return
        try:
            document = self.validator.parse(delivery.body)
        except InvalidEvent as exc:
            self._refuse_at_once(delivery, f"InvalidEvent: {exc}")
            return
        self.spans.begin(delivery, document)
        self.batches.offer(delivery, document)

    def _refuse_at_once(self, delivery: Delivery, error: str) -> None:
        """Count a message the store will never keep and dead-letter it in a task of its own (nothing here waits)."""
        self.metrics.store.labels(Outcome.INVALID.value).inc()
        self.spans.begin(delivery, None)
        refusal = asyncio.create_task(self._refuse(delivery, error))
        self._refusing.add(refusal)
        refusal.add_done_callback(self._refusing.discard)

    async def _refuse(
        self, delivery: Delivery, error: str, *, handled: bool = False, document: _Document | None = None
    ) -> None:
        """Dead-letter an event the store will not keep; if that fails, release it (it comes back to be refused)."""
        try:
            await self._dead_letter(delivery, error, handled=handled, document=document)
        except Exception:
            log.exception("dead-lettering an event failed; releasing it", **self._about(delivery, document))
            try:
                await delivery.release()
            except Exception:  # noqa: BLE001 - settled meanwhile, or the channel is gone: it comes back either way
                log.warning("could not release the event", **self._about(delivery, document))
        finally:
            self.spans.end(delivery, error)

    async def _reject(self, held: Held[_Document], reason: str) -> None:
        """An event whose write failed on its own (see :mod:`candystore.batching`): dead-lettered with why."""
        self.metrics.store.labels(Outcome.INVALID.value).inc()
        await self._refuse(held.delivery, f"not storable: {reason}", handled=True, document=held.value)

    async def _write(self, batch: Sequence[Held[_Document]]) -> list[StoreResult]:
        with self.spans.batch_write([held.delivery for held in batch], name=f"write {self.spec.name}"):
            return await self.store.store_batch([held.value for held in batch])

    async def _settle(self, batch: Sequence[Held[_Document]], results: list[StoreResult]) -> None:
        committed = datetime.now(UTC)
        stored = [held.value for held, result in zip(batch, results, strict=True) if result.outcome is Outcome.STORED]
        for document in stored:
            self._observe_latency(document, committed)
        # Counted once per outcome and batch: a label lookup per event costs more than the increment.
        for kind, count in Counter(result.outcome for result in results).items():
            self.metrics.store.labels(kind.value).inc(count)
        if stored and self.on_committed is not None:
            try:
                self.on_committed(stored)
            except Exception:  # a listener's failure must never hold up the acknowledgements
                log.exception("on_committed failed", events=len(stored))
        settled = await asyncio.gather(
            *(self._settle_one(held, result) for held, result in zip(batch, results, strict=True)),
            return_exceptions=True,
        )
        for held, outcome in zip(batch, settled, strict=True):
            if isinstance(outcome, BaseException):  # unsettled, it comes back and is absorbed as a duplicate
                log.warning("settling failed", error=str(outcome), **self._about(held.delivery, held.value))

    async def _settle_one(self, held: Held[_Document], result: StoreResult) -> None:
        delivery, error = held.delivery, None
        try:
            if result.outcome in {Outcome.STORED, Outcome.DUPLICATE}:
                await delivery.ack()
                return
            reason = "event id reused with different content" if result.outcome is Outcome.CONFLICT else "not storable"
            error = f"{reason}: {result.reason}"
            await self._dead_letter(delivery, error, handled=True, document=held.value)
        finally:
            self.spans.end(delivery, error)

    def _about(self, delivery: Delivery, document: _Document | None) -> dict[str, Any]:
        """The fields of a log line about one event (design.md, "Logs and traces")."""
        if document is None:
            return {"event_id": delivery.message_id, "consumer": self.spec.name}
        return {
            "event_id": document.get("event_id"),
            "event_type": document.get("event_type"),
            "correlation_ids": document.get("correlation_ids"),
            "consumer": self.spec.name,
        }

    async def _dead_letter(
        self, delivery: Delivery, error: str, *, handled: bool, document: _Document | None = None
    ) -> None:
        attempts = int(delivery.headers.get(Headers.ATTEMPTS, 0) or 0) + (1 if handled else 0)
        log.error("dead-lettering", error=error[:500], **self._about(delivery, document))
        await delivery.dead_letter(
            headers={
                Headers.ERROR: error[:4000],
                Headers.CONSUMER: self.spec.name,
                Headers.ATTEMPTS: attempts,
                Headers.FAILED_AT: datetime.now(UTC).isoformat(),
            }
        )

    def _observe_latency(self, document: _Document, committed: datetime) -> None:
        try:
            _, created = normalise_timestamp(document["timestamp"])
        except (KeyError, ValueError, ArithmeticError):
            return
        self.metrics.e2e_latency.observe(max((committed - created).total_seconds(), 0.0))
