"""Consuming: decode and validate each message, call the handler with a typed event, settle it.

Handler returns → ack. Handler raises → retried after 1 s, 2 s and 4 s, then
dead-lettered with the headers of design.md. An undecodable or invalid message, or
:class:`~bloodbank.errors.PermanentFailure`, is dead-lettered at once; so is, with signing
keys, a message whose signature does not verify (``BadSignature: …``, see :mod:`bloodbank.signing`). A redelivered
event this consumer already handled is acknowledged without calling the handler.
Nothing is acknowledged before it is handled or durably moved (the transport's contract).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar

import pydantic
import structlog
from opentelemetry import trace

from bloodbank.correlation import CorrelationTracker
from bloodbank.envelope import handling
from bloodbank.errors import PermanentFailure
from bloodbank.idempotency import IdempotencyStore
from bloodbank.metrics import BloodbankMetrics
from bloodbank.signing import MessageSignatures
from bloodbank.topology import ConsumerSpec, Headers
from bloodbank.tracing import consume_span, tracer
from bloodbank.transport import Delivery, Subscription, Transport
from gumdrop.logs import line_fields
from gumdrop.telemetry import tracing_enabled
from holyfields import EventValidator, InvalidEvent
from holyfields.generated.python import PAYLOAD_MODELS, EventEnvelope

__all__ = ["Event", "EventHandler", "subscribe"]

log = structlog.get_logger(__name__)
_NO_SPAN: AbstractContextManager[Any] = nullcontext()  # reusable: what every step is while tracing is off


class Event:
    """What a handler receives: the validated document, and the envelope and payload as generated models.

    The models are built on first access: a handler that only needs a field or two does not
    pay for them (the document was validated against the schemas already).
    """

    __slots__ = ("_envelope", "_payload", "attempt", "document")

    def __init__(self, document: Mapping[str, Any], attempt: int) -> None:
        self.document = document
        self.attempt = attempt
        self._envelope: EventEnvelope | None = None
        self._payload: pydantic.BaseModel | None = None

    @property
    def event_id(self) -> str:
        return str(self.document["event_id"])

    @property
    def event_type(self) -> str:
        return str(self.document["event_type"])

    @property
    def envelope(self) -> EventEnvelope:
        if self._envelope is None:
            self._envelope = _model(EventEnvelope, self.document)
        return self._envelope

    @property
    def payload(self) -> pydantic.BaseModel:
        if self._payload is None:
            self._payload = _model(PAYLOAD_MODELS[self.event_type], self.document["payload"])
        return self._payload

    def __repr__(self) -> str:
        return f"Event({self.event_type} {self.event_id}, attempt {self.attempt})"


_Model = TypeVar("_Model", bound=pydantic.BaseModel)


def _model(model: type[_Model], data: Any) -> _Model:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        # The schemas accepted the event, so this is a drift between a schema and its generated model:
        # retrying cannot help.
        raise PermanentFailure(f"does not fit the generated model {model.__name__}: {exc}") from exc


EventHandler = Callable[[Event], Awaitable[None]]


async def subscribe(
    transport: Transport,
    consumer: str,
    bindings: Sequence[str],
    handler: EventHandler,
    *,
    validator: EventValidator,
    prefetch: int = 100,
    idempotency: IdempotencyStore | None = None,
    tracker: CorrelationTracker | None = None,
    metrics: BloodbankMetrics | None = None,
    spec: ConsumerSpec | None = None,
    signatures: MessageSignatures | None = None,
) -> Subscription:
    """Declare ``consumer``'s queues and bindings and start handling its events.

    With ``signatures``, a message is handled only once its signature verifies.
    """
    spec = spec or ConsumerSpec(consumer, tuple(bindings))
    await transport.declare_consumer(spec)
    settle = _Settler(
        spec, handler, validator, idempotency, tracker, metrics or BloodbankMetrics(), transport.name, signatures
    )
    return await transport.consume(spec, settle, prefetch=prefetch)


class _Settler:
    """Handles one delivery from start to settlement.

    Every line logged meanwhile (the handler's own too) carries the event's ``event_id``,
    ``event_type``, ``correlation_ids`` and the ``consumer``; with tracing on, the work is
    the span ``process {consumer}``, with ``handle``, ``retry`` and ``dead-letter`` below it.
    """

    def __init__(  # noqa: PLR0917 - built in one place, from subscribe's arguments
        self,
        spec: ConsumerSpec,
        handler: EventHandler,
        validator: EventValidator,
        idempotency: IdempotencyStore | None,
        tracker: CorrelationTracker | None,
        metrics: BloodbankMetrics,
        transport: str,
        signatures: MessageSignatures | None = None,
    ) -> None:
        self.spec = spec
        self.signatures = signatures
        self.handler = handler
        self.validator = validator
        self.idempotency = idempotency
        self.tracker = tracker
        self.metrics = metrics
        self.transport = transport
        # Labelled children looked up once, not per message.
        self._acked = metrics.consume.labels(spec.name, "ack")
        self._valid = metrics.validation.labels("consume", "valid")

    async def __call__(self, delivery: Delivery) -> None:
        attempts = int(delivery.headers.get(Headers.ATTEMPTS, 0) or 0)
        if self.signatures is not None:  # before parsing: nothing of an unverified body is trusted
            refused = self.signatures.verify(delivery.body, delivery.headers)
            if refused is not None:
                self.metrics.signatures_refused.labels("consume").inc()
                await self._refuse(delivery, f"BadSignature: {refused}", attempts)
                return
        try:
            document = self.validator.parse(delivery.body)
        except InvalidEvent as exc:
            await self._refuse(delivery, f"InvalidEvent: {exc}", attempts)
            return
        self._valid.inc()
        token = line_fields.set(
            {
                "event_id": document["event_id"],
                "event_type": document["event_type"],
                "correlation_ids": document["correlation_ids"],
                "consumer": self.spec.name,
            }
        )
        try:
            with self._traced(delivery, document):
                await self._settle(delivery, Event(document, attempts + 1))
        finally:
            line_fields.reset(token)

    async def _refuse(self, delivery: Delivery, error: str, attempts: int) -> None:
        """Dead-letter a message that is never handled (invalid, or its signature does not verify)."""
        self.metrics.validation.labels("consume", "invalid").inc()
        token = line_fields.set({"event_id": delivery.message_id, "consumer": self.spec.name})
        try:
            with self._traced(delivery, None):
                await self._dead_letter(delivery, error, attempts)
        finally:
            line_fields.reset(token)

    async def _settle(self, delivery: Delivery, event: Event) -> None:
        event_id = event.event_id
        if self.idempotency is not None and await self.idempotency.seen(self.spec.name, event_id):
            log.debug("already handled; acknowledging the redelivery")
            await delivery.ack()
            self._acked.inc()
            return
        try:
            with handling(event_id), self._step("handle"):
                await self.handler(event)
        except PermanentFailure as exc:
            await self._dead_letter(delivery, f"PermanentFailure: {exc}", event.attempt)
            return
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
            await self._failed(delivery, f"{type(exc).__name__}: {exc}", event.attempt)
            return
        if self.idempotency is not None:
            await self.idempotency.remember(self.spec.name, event_id)
        if self.tracker is not None:
            await self.tracker.record(event_id, [str(p) for p in event.document["correlation_ids"]])
        await delivery.ack()
        self._acked.inc()

    async def _failed(self, delivery: Delivery, error: str, attempts: int) -> None:
        delays = self.spec.retry_delays
        if attempts > len(delays):
            await self._dead_letter(delivery, error, attempts)
            return
        log.warning("handler failed; retrying", attempts=attempts, error=error)
        with self._step("retry", error):
            await delivery.retry(delay=delays[attempts - 1], headers=self._headers(error, attempts))
        self.metrics.consume.labels(self.spec.name, "retry").inc()

    async def _dead_letter(self, delivery: Delivery, error: str, attempts: int) -> None:
        log.error("dead-lettering", attempts=attempts, error=error[:500])
        with self._step("dead-letter", error):
            await delivery.dead_letter(headers=self._headers(error, attempts))
        self.metrics.consume.labels(self.spec.name, "dlq").inc()

    def _headers(self, error: str, attempts: int) -> dict[str, str | int]:
        return {
            Headers.ERROR: error[:4000],
            Headers.CONSUMER: self.spec.name,
            Headers.ATTEMPTS: attempts,
            Headers.FAILED_AT: datetime.now(UTC).isoformat(),
        }

    def _traced(self, delivery: Delivery, document: Mapping[str, Any] | None) -> AbstractContextManager[Any]:
        """The delivery's ``process`` span made current, when tracing is on."""
        if not tracing_enabled():
            return _NO_SPAN
        span = consume_span(self.spec.name, delivery.headers, document, transport=self.transport)
        return trace.use_span(span, end_on_exit=True)

    def _step(self, operation: str, error: str | None = None) -> AbstractContextManager[Any]:
        """A child of the ``process`` span for one step (``handle``, ``retry``, ``dead-letter``), when tracing is on.

        ``error`` marks the processing as failed: why the event is retried or dead-lettered.
        """
        if not trace.get_current_span().is_recording():  # tracing is off: no process span around the step
            return _NO_SPAN
        if error is not None:
            trace.get_current_span().set_status(trace.StatusCode.ERROR, error[:500])
        kind = trace.SpanKind.INTERNAL if operation == "handle" else trace.SpanKind.PRODUCER
        return tracer.start_as_current_span(
            f"{operation} {self.spec.name}",
            kind=kind,
            attributes={"messaging.operation.name": operation, "messaging.consumer.group.name": self.spec.name},
        )
