"""The bus's OpenTelemetry spans, after the messaging semantic conventions, and the trace context events carry.

A published event carries the W3C context of its publish span twice: in the envelope's
``trace_context`` (stored with the event, so a trace can be found from the event later) and
in the AMQP headers ``traceparent``/``tracestate`` (what any OpenTelemetry-aware consumer
reads). Consuming continues that trace: ``process {consumer}`` is a child of the publish span,
and the handler, a retry and a dead-lettering are children of it in turn.

Nothing here makes a span while tracing is off (:func:`gumdrop.telemetry.tracing_enabled`):
the hot paths ask once and skip the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bloodbank.topology import MAIN_EXCHANGE
from bloodbank.transport import Delivery
from gumdrop.telemetry import tracing_enabled

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "DeliverySpans",
    "consume_span",
    "event_context",
    "publish_span",
    "stamped",
    "tracer",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

tracer = trace.get_tracer("bloodbank")
_propagator = TraceContextTextMapPropagator()
ENVELOPE_TRACESTATE_MAX = 512
"""``maxLength`` of ``trace_context.tracestate`` in the envelope schema."""
_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _system(transport: str) -> str:
    return "rabbitmq" if transport == "rabbitmq" else f"bloodbank.{transport}"


def event_context(headers: Mapping[str, Any], document: Mapping[str, Any] | None) -> otel_context.Context | None:
    """The trace an event belongs to: its AMQP headers' context, else its envelope's ``trace_context``; else None."""
    carrier: dict[str, str] = {}
    if isinstance(parent := headers.get(TRACEPARENT), str):
        carrier[TRACEPARENT] = parent
        if isinstance(state := headers.get(TRACESTATE), str):
            carrier[TRACESTATE] = state
    elif document is not None and isinstance(stamp := document.get("trace_context"), Mapping):
        flags = stamp.get("trace_flags", "01")
        carrier[TRACEPARENT] = f"00-{stamp.get('trace_id')}-{stamp.get('span_id')}-{flags}"
        if isinstance(state := stamp.get("tracestate"), str):
            carrier[TRACESTATE] = state
    if not carrier:
        return None
    if (parsed := _VERSION_00.fullmatch(carrier[TRACEPARENT])) is not None:
        # The version every producer sends, read directly: the propagator's general parsing costs
        # several microseconds an event, paid by every consumer.
        trace_id, span_id, flags = (int(part, 16) for part in parsed.groups())
        if trace_id == 0 or span_id == 0:
            return None
        state = TraceState.from_header([carrier[TRACESTATE]]) if TRACESTATE in carrier else None
        remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags), trace_state=state)
        return trace.set_span_in_context(NonRecordingSpan(remote))
    extracted = _propagator.extract(carrier)
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def publish_span(envelope: Mapping[str, Any], *, transport: str) -> Span:
    """A started ``publish {event_type}`` span (the caller ends it at the confirm).

    Its parent is the current span (the gateway's request) or, without one, the context the
    envelope came with; a batch makes one per event, so each event has its own place in its trace.
    """
    event_type = str(envelope.get("event_type", ""))
    parent = None
    if not trace.get_current_span().get_span_context().is_valid:
        parent = event_context({}, envelope)
    return tracer.start_span(
        f"publish {event_type}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": _system(transport),
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": MAIN_EXCHANGE,
            "messaging.rabbitmq.destination.routing_key": event_type,
            "messaging.message.id": str(envelope.get("event_id", "")),
        },
    )


def stamped(envelope: Mapping[str, Any], span: Span) -> tuple[dict[str, Any], dict[str, str]]:
    """``envelope`` with ``span``'s W3C context as its ``trace_context``, and the AMQP headers that carry it."""
    span_context = span.get_span_context()
    stamp = {
        "trace_id": f"{span_context.trace_id:032x}",
        "span_id": f"{span_context.span_id:016x}",
        "trace_flags": f"{int(span_context.trace_flags):02x}",
    }
    headers = {TRACEPARENT: f"00-{stamp['trace_id']}-{stamp['span_id']}-{stamp['trace_flags']}"}
    if span_context.trace_state:
        headers[TRACESTATE] = state = span_context.trace_state.to_header()
        # W3C allows 32 members of 256 characters; the envelope keeps what its schema admits, the headers all of it.
        # Stamped after validation, a longer one would be refused by every consumer instead.
        if len(state) <= ENVELOPE_TRACESTATE_MAX:
            stamp["tracestate"] = state
    return {**envelope, "trace_context": stamp}, headers


def consume_span(
    consumer: str,
    headers: Mapping[str, Any],
    document: Mapping[str, Any] | None,
    *,
    transport: str,
) -> Span:
    """A started ``process {consumer}`` span, a child of the event's publish span (the caller makes it current)."""
    attributes: dict[str, str | int] = {
        "messaging.system": _system(transport),
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": consumer,
        "messaging.consumer.group.name": consumer,
    }
    if document is not None:
        attributes["messaging.message.id"] = str(document.get("event_id", ""))
        attributes["messaging.rabbitmq.destination.routing_key"] = str(document.get("event_type", ""))
    return tracer.start_span(
        f"process {consumer}", context=event_context(headers, document), kind=SpanKind.CONSUMER, attributes=attributes
    )


class DeliverySpans:
    """The ``process`` spans of a consumer that settles deliveries later and in batches (Candystore's ingestor).

    :meth:`begin` opens one when a delivery arrives, :meth:`end` closes it at its settlement;
    :meth:`batch_write` is the span of work done for many at once: a child of the first event's
    span, linked to every event's, so each event's trace leads to the write that stored it.
    """

    def __init__(self, consumer: str, *, transport: str) -> None:
        self.consumer = consumer
        self.transport = transport
        self._open: dict[int, Span] = {}

    def begin(self, delivery: Delivery, document: Mapping[str, Any] | None) -> None:
        if tracing_enabled():
            self._open[id(delivery)] = consume_span(self.consumer, delivery.headers, document, transport=self.transport)

    def end(self, delivery: Delivery, error: str | None = None) -> None:
        span = self._open.pop(id(delivery), None)
        if span is not None:
            if error is not None:
                span.set_status(StatusCode.ERROR, error[:500])
            span.end()

    def batch_write(self, deliveries: Sequence[Delivery], *, name: str) -> AbstractContextManager[Any]:
        spans = [span for delivery in deliveries if (span := self._open.get(id(delivery))) is not None]
        if not spans:
            return nullcontext()
        return tracer.start_as_current_span(
            name,
            context=trace.set_span_in_context(spans[0]),
            links=[Link(span.get_span_context()) for span in spans],
            attributes={
                "messaging.batch.message_count": len(deliveries),
                "messaging.consumer.group.name": self.consumer,
            },
        )

    def close(self) -> None:
        """End the spans of deliveries given back unsettled (a stop): their processing ends here."""
        for span in self._open.values():
            span.set_status(StatusCode.ERROR, "released unsettled")
            span.end()
        self._open.clear()
