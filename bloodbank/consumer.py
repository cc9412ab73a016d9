"""Consuming: decode and validate each message, call the handler with a typed event, settle it.

Handler returns → ack. Handler raises → retried after 1 s, 2 s and 4 s, then
dead-lettered with the headers of design.md. An undecodable or invalid message, or
:class:`~bloodbank.errors.PermanentFailure`, is dead-lettered at once. A redelivered
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
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bloodbank.correlation import CorrelationTracker
from bloodbank.envelope import handling
from bloodbank.errors import PermanentFailure
from bloodbank.idempotency import IdempotencyStore
from bloodbank.metrics import BloodbankMetrics
from bloodbank.topology import ConsumerSpec, Headers
from bloodbank.transport import Delivery, Subscription, Transport
from holyfields import EventValidator, InvalidEvent
from holyfields.generated.python import PAYLOAD_MODELS, EventEnvelope

__all__ = ["Event", "EventHandler", "subscribe"]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("bloodbank")
_propagator = TraceContextTextMapPropagator()
_NO_SPAN: AbstractContextManager[Any] = nullcontext()  # reusable: most events carry no trace context


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
) -> Subscription:
    """Declare ``consumer``'s queues and bindings and start handling its events."""
    spec = spec or ConsumerSpec(consumer, tuple(bindings))
    await transport.declare_consumer(spec)
    settle = _Settler(spec, handler, validator, idempotency, tracker, metrics or BloodbankMetrics())
    return await transport.consume(spec, settle, prefetch=prefetch)


class _Settler:
    """Handles one delivery from start to settlement."""

    def __init__(  # noqa: PLR0917 - built in one place, from subscribe's arguments
        self,
        spec: ConsumerSpec,
        handler: EventHandler,
        validator: EventValidator,
        idempotency: IdempotencyStore | None,
        tracker: CorrelationTracker | None,
        metrics: BloodbankMetrics,
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.validator = validator
        self.idempotency = idempotency
        self.tracker = tracker
        self.metrics = metrics
        # Labelled children looked up once, not per message.
        self._acked = metrics.consume.labels(spec.name, "ack")
        self._valid = metrics.validation.labels("consume", "valid")

    async def __call__(self, delivery: Delivery) -> None:
        attempts = int(delivery.headers.get(Headers.ATTEMPTS, 0) or 0)
        try:
            document = self.validator.parse(delivery.body)
        except InvalidEvent as exc:
            self.metrics.validation.labels("consume", "invalid").inc()
            await self._dead_letter(delivery, f"InvalidEvent: {exc}", attempts)
            return
        self._valid.inc()
        event = Event(document, attempts + 1)
        event_id = event.event_id
        if self.idempotency is not None and await self.idempotency.seen(self.spec.name, event_id):
            log.debug("already handled; acknowledging the redelivery", consumer=self.spec.name, event_id=event_id)
            await delivery.ack()
            self._acked.inc()
            return
        try:
            with handling(event_id), _span(event):
                await self.handler(event)
        except PermanentFailure as exc:
            await self._dead_letter(delivery, f"PermanentFailure: {exc}", attempts + 1)
            return
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
            await self._failed(delivery, f"{type(exc).__name__}: {exc}", attempts + 1)
            return
        if self.idempotency is not None:
            await self.idempotency.remember(self.spec.name, event_id)
        if self.tracker is not None:
            await self.tracker.record(event_id, [str(p) for p in document["correlation_ids"]])
        await delivery.ack()
        self._acked.inc()

    async def _failed(self, delivery: Delivery, error: str, attempts: int) -> None:
        delays = self.spec.retry_delays
        if attempts > len(delays):
            await self._dead_letter(delivery, error, attempts)
            return
        log.warning("handler failed; retrying", consumer=self.spec.name, attempts=attempts, error=error)
        await delivery.retry(delay=delays[attempts - 1], headers=self._headers(error, attempts))
        self.metrics.consume.labels(self.spec.name, "retry").inc()

    async def _dead_letter(self, delivery: Delivery, error: str, attempts: int) -> None:
        log.error("dead-lettering", consumer=self.spec.name, attempts=attempts, error=error[:500])
        await delivery.dead_letter(headers=self._headers(error, attempts))
        self.metrics.consume.labels(self.spec.name, "dlq").inc()

    def _headers(self, error: str, attempts: int) -> dict[str, str | int]:
        return {
            Headers.ERROR: error[:4000],
            Headers.CONSUMER: self.spec.name,
            Headers.ATTEMPTS: attempts,
            Headers.FAILED_AT: datetime.now(UTC).isoformat(),
        }


def _span(event: Event) -> AbstractContextManager[Any]:
    context = event.document.get("trace_context")
    if not isinstance(context, Mapping):
        return _NO_SPAN
    carrier = {"traceparent": f"00-{context['trace_id']}-{context['span_id']}-{context.get('trace_flags', '01')}"}
    parent = _propagator.extract(carrier)
    return _tracer.start_as_current_span(f"consume {event.event_type}", context=parent, kind=trace.SpanKind.CONSUMER)
