"""The trace context an event arrives with is read, whatever its headers hold, and never breaks consuming."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace

from bloodbank.tracing import TRACEPARENT, TRACESTATE, event_context

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def _span_context(
    headers: Mapping[str, object], document: Mapping[str, object] | None = None
) -> trace.SpanContext | None:
    found = event_context(headers, document)
    return None if found is None else trace.get_current_span(found).get_span_context()


def test_the_amqp_headers_come_first_then_the_envelope() -> None:
    stamped = {"trace_context": {"trace_id": "a" * 32, "span_id": "b" * 16, "trace_flags": "01"}}
    headers = {TRACEPARENT: f"00-{TRACE}-{SPAN}-01", TRACESTATE: "vendor=blue,other=1"}
    from_headers = _span_context(headers, stamped)
    assert from_headers is not None
    assert (from_headers.trace_id, from_headers.span_id) == (int(TRACE, 16), int(SPAN, 16))
    assert from_headers.is_remote
    assert from_headers.trace_state.to_header() == "vendor=blue,other=1"
    from_envelope = _span_context({}, stamped)
    assert from_envelope is not None
    assert from_envelope.trace_id == int("a" * 32, 16)
    assert _span_context({}, {}) is None


def test_a_later_version_is_read_by_the_standard_propagator() -> None:
    found = _span_context({TRACEPARENT: f"01-{TRACE}-{SPAN}-01-extra"})
    assert found is not None
    assert found.trace_id == int(TRACE, 16)


def test_all_zero_ids_are_no_context() -> None:
    assert _span_context({TRACEPARENT: f"00-{'0' * 32}-{SPAN}-01"}) is None
    assert _span_context({TRACEPARENT: f"00-{TRACE}-{'0' * 16}-01"}) is None


@given(
    st.one_of(st.text(max_size=80), st.integers(), st.binary(max_size=40), st.none()),
    st.one_of(st.text(max_size=80), st.integers(), st.none()),
)
def test_any_header_value_gives_a_valid_context_or_none(parent: object, state: object) -> None:
    """A producer may send anything in these headers: consuming goes on, with or without the trace."""
    found = _span_context({TRACEPARENT: parent, TRACESTATE: state})
    assert found is None or found.is_valid
