"""One trace across the bus: the gateway's request, the publish, Candystore's consume and write, the detection.

The platform runs in this process on the embedded broker and SQLite, with the SDK recording
spans in memory; a request comes in with a W3C ``traceparent`` and ``tracestate`` as a caller
(a proxy, another traced service) would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bloodbank import BloodbankSettings, Bus
from bloodbank.gateway import create_gateway
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from holyfields import default_catalog
from tests.tracing import parent_of, span_id, span_named, trace_id
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]


@asynccontextmanager
async def platform(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The gateway, Candystore and visibility on one embedded bus; clients of the gateway and of Candystore."""
    bus = await Bus.start(BloodbankSettings(data_dir=tmp_path / "bus", publish_timeout=10))
    store = CandystoreService(CandystoreSettings(data_dir=tmp_path / "store", batch_wait=0.01), bus)
    detector = VisibilityService(
        VisibilitySettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'visibility.sqlite3'}", data_dir=tmp_path, batch_wait=0.01
        ),
        bus,
    )
    gateway = create_gateway(bus.settings, bus=bus)
    await store.start()
    await detector.start()
    await gateway.state.gateway.start()
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(gateway), base_url="http://localhost") as publishing,
            httpx.AsyncClient(transport=httpx.ASGITransport(store.api), base_url="http://localhost") as reading,
        ):
            yield publishing, reading
    finally:
        await gateway.state.gateway.stop()
        await detector.stop()
        await store.stop()
        await bus.close()


async def _finished(spans: InMemorySpanExporter, *names: str) -> list[Any]:
    for _ in range(500):
        finished = list(spans.get_finished_spans())
        if set(names) <= {span.name for span in finished}:
            return finished
        await asyncio.sleep(0.02)
    raise AssertionError(f"spans {names} never all ended: {sorted(span.name for span in spans.get_finished_spans())}")


async def test_one_post_is_one_trace_through_the_bus(tmp_path: Path, recorded_spans: InMemorySpanExporter) -> None:
    async with platform(tmp_path) as (gateway, store):
        answer = await gateway.post(
            "/events",
            json={"event_type": "retail.offer.surfaced.v1", "payload": OFFER},
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "vendor=blue"},
        )
        assert answer.status_code == 202, answer.text
        event_id = answer.json()["event_id"]
        spans = await _finished(
            recorded_spans,
            "publish retail.offer.surfaced.v1",
            "process candystore.events",
            "write candystore.events",
            "process visibility.detector",
            "handle visibility.detector",
            "detect retail.offer.surfaced.v1",
        )
        stored = (await store.get(f"/events/{event_id}")).json()

    request = next(span for span in spans if span.kind is SpanKind.SERVER and span.name.startswith("POST /events"))
    publish = span_named(spans, "publish retail.offer.surfaced.v1")
    stored_by = span_named(spans, "process candystore.events")
    write = span_named(spans, "write candystore.events")
    detected_by = span_named(spans, "process visibility.detector")
    handle = span_named(spans, "handle visibility.detector")
    detect = span_named(spans, "detect retail.offer.surfaced.v1")

    # One trace, the caller's, continued from its span in the right parent order.
    assert {trace_id(span) for span in (request, publish, stored_by, write, detected_by, handle, detect)} == {
        int(CALLER_TRACE, 16)
    }
    assert parent_of(request) == int(CALLER_SPAN, 16)
    assert parent_of(publish) == span_id(request)
    assert parent_of(stored_by) == parent_of(detected_by) == span_id(publish)
    assert parent_of(write) == span_id(stored_by)
    assert [link.context.span_id for link in write.links] == [span_id(stored_by)]
    assert parent_of(handle) == span_id(detected_by)
    assert parent_of(detect) == span_id(handle)

    # The messaging semantic conventions.
    assert publish.kind is SpanKind.PRODUCER
    assert stored_by.kind is detected_by.kind is SpanKind.CONSUMER
    assert publish.attributes is not None
    assert publish.attributes["messaging.message.id"] == event_id
    assert publish.attributes["messaging.rabbitmq.destination.routing_key"] == "retail.offer.surfaced.v1"
    assert stored_by.attributes is not None
    assert stored_by.attributes["messaging.consumer.group.name"] == "candystore.events"

    # The stored event carries the publish span's context, the caller's tracestate with it.
    assert stored["trace_context"] == {
        "trace_id": CALLER_TRACE,
        "span_id": f"{span_id(publish):016x}",
        "trace_flags": "01",
        "tracestate": "vendor=blue",
    }


async def test_without_tracing_no_span_is_made_and_the_context_is_the_callers(tmp_path: Path) -> None:
    """Tracing off (no OTEL_* settings): the envelope keeps the trace_context its producer gave."""
    given = {"trace_id": CALLER_TRACE, "span_id": CALLER_SPAN, "trace_flags": "01"}
    async with platform(tmp_path) as (gateway, store):
        answer = await gateway.post(
            "/events", json={"event_type": "retail.offer.surfaced.v1", "payload": OFFER, "trace_context": given}
        )
        assert answer.status_code == 202, answer.text
        event_id = answer.json()["event_id"]
        for _ in range(500):
            if (found := await store.get(f"/events/{event_id}")).status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert found.json()["trace_context"] == given


async def test_a_tracestate_longer_than_the_envelope_admits_stays_in_the_headers(
    tmp_path: Path, recorded_spans: InMemorySpanExporter
) -> None:
    """A caller may send W3C's 32 members; the event is still stored, its envelope without the state."""
    long_state = ",".join(f"vendor{index}={'x' * 200}" for index in range(8))
    async with platform(tmp_path) as (gateway, store):
        answer = await gateway.post(
            "/events",
            json={"event_type": "retail.offer.surfaced.v1", "payload": OFFER},
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": long_state},
        )
        assert answer.status_code == 202, answer.text
        event_id = answer.json()["event_id"]
        await _finished(recorded_spans, "write candystore.events")
        stored = (await store.get(f"/events/{event_id}")).json()
    assert stored["trace_context"]["trace_id"] == CALLER_TRACE
    assert "tracestate" not in stored["trace_context"]
