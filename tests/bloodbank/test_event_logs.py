"""Every line about an event says which: its ids, its causes, the consumer, the trace it belongs to.

A handler fails until its event is dead-lettered; the JSON lines written meanwhile (the
handler's own, each retry, the dead-lettering) are read back and each carries the event's
``event_id``, ``event_type``, ``correlation_ids``, the ``consumer``, ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry import trace

from bloodbank import Bus, ConsumerSpec, Event, subscribe
from bloodbank.topology import DEAD_LETTER_QUEUE
from gumdrop.logs import LogConfig, configure_logs
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually

OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
handler_log = structlog.get_logger("tests.handler")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    previous = structlog.get_config()
    configure_logs(LogConfig(json=True, level=logging.INFO), stream)
    yield stream
    structlog.configure(**previous)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("recorded_spans")
async def test_a_failing_handlers_lines_carry_the_event_and_its_trace(bus: Bus, json_lines: io.StringIO) -> None:
    cause = str(uuid.uuid4())

    async def fail(event: Event) -> None:
        handler_log.info("charging the card", attempt=event.attempt)
        raise RuntimeError("payment service down")

    spec = ConsumerSpec("logs.failing", ("retail.#",), retry_delays=(0.05, 0.05))
    await subscribe(bus.transport, spec.name, spec.bindings, fail, validator=bus.validator, spec=spec)
    with trace.get_tracer("tests").start_as_current_span("caller") as caller:
        event_id = await bus.publish("retail.offer.surfaced.v1", OFFER, correlation_ids=[cause])
    trace_hex = f"{caller.get_span_context().trace_id:032x}"
    await eventually(lambda: _has(json_lines, "dead-lettering"))

    about = [line for line in _lines(json_lines) if line.get("consumer") == spec.name]
    assert [line["event"] for line in about] == [
        "charging the card",
        "handler failed; retrying",
        "charging the card",
        "handler failed; retrying",
        "charging the card",
        "dead-lettering",
    ]
    for line in about:
        assert line["event_id"] == event_id
        assert line["event_type"] == "retail.offer.surfaced.v1"
        assert line["correlation_ids"] == [cause]
        assert line["trace_id"] == trace_hex
        assert len(line["span_id"]) == 16
    dead = await bus.transport.queue_depth(DEAD_LETTER_QUEUE)
    assert dead >= 1


async def _has(stream: io.StringIO, event: str) -> bool:
    return any(line["event"] == event for line in _lines(stream))
