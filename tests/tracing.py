"""Spans recorded in memory by the SDK, for the tests that look at traces.

One tracer provider serves the whole test process (OpenTelemetry installs the global one
once); :func:`recorded_spans` switches the platform's tracing on for one test and off after,
so the other tests run untraced, as the platform does without ``OTEL_*`` settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gumdrop.telemetry import force_tracing

_EXPORTER = InMemorySpanExporter()


class _WhileRecording(SimpleSpanProcessor):
    """Keeps only the spans ended while a test records: an app not told of the switch (a test's own FastAPI app,
    whose native telemetry follows the global provider) must not fill memory for the rest of the session."""

    recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            super().on_end(span)


_PROCESSOR = _WhileRecording(_EXPORTER)


def _install_once() -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_PROCESSOR)
        trace.set_tracer_provider(provider)


@pytest.fixture
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test; what it ended is in ``get_finished_spans()``."""
    _install_once()
    _EXPORTER.clear()
    force_tracing(enabled=True)
    _PROCESSOR.recording = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.recording = False
        force_tracing(enabled=False)
        _EXPORTER.clear()


def span_named(spans: tuple[ReadableSpan, ...] | list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r} in {sorted(span.name for span in spans)}"
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)
