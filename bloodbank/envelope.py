"""Building envelopes: ids, timestamps, source, causation and trace context.

Inside a handler, the event being handled is the *current event* (a context
variable set by the consumer), so anything published from there names it as its
parent unless the caller gives ``correlation_ids`` itself.
"""

from __future__ import annotations

import contextvars
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

__all__ = [
    "ENVELOPE_VERSION",
    "build_envelope",
    "current_event_id",
    "handling",
    "timestamp_text",
    "trace_context",
    "uuid7",
]

ENVELOPE_VERSION = "1.0.0"

_current_event: contextvars.ContextVar[str | None] = contextvars.ContextVar("bloodbank_current_event", default=None)


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | (rand & (2**62 - 1))
    digits = f"{value:032x}"  # formatted directly: uuid.UUID's constructor and str() cost more than the id
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class _UtcClock:
    """Now as envelope text, to the microsecond; the date and time of day are formatted once a second."""

    __slots__ = ("_second", "_time_ns")

    def __init__(self, time_ns: Callable[[], int] = time.time_ns) -> None:
        self._time_ns = time_ns
        self._second: tuple[int, str] = (-1, "")

    def now(self) -> str:
        second, micros = divmod(self._time_ns() // 1000, 1_000_000)
        formatted, text = self._second
        if second != formatted:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{micros:06d}Z"


_clock = _UtcClock()


def timestamp_text(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as the envelope writes timestamps: RFC 3339 in UTC with ``Z``."""
    if moment is None:
        return _clock.now()
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def current_event_id() -> str | None:
    """The id of the event being handled in this task, if any."""
    return _current_event.get()


class handling:  # noqa: N801 - used like a function: `with handling(event_id):`
    """Within this block, published events name ``event_id`` as their parent by default."""

    __slots__ = ("_event_id", "_token")

    def __init__(self, event_id: str) -> None:
        self._event_id = event_id

    def __enter__(self) -> None:
        self._token = _current_event.set(self._event_id)

    def __exit__(self, *_: object) -> None:
        _current_event.reset(self._token)


def trace_context() -> dict[str, str] | None:
    """W3C trace context of the current OpenTelemetry span, or None outside a recording span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "trace_flags": f"{int(context.trace_flags):02x}",
    }


def default_source(app: str, *, kind: str = "system") -> dict[str, Any]:
    return {"host": socket.gethostname(), "type": kind, "app": app}


def build_envelope(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    source: Mapping[str, Any],
    correlation_ids: Sequence[str] | None = None,
    agent_context: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """A complete envelope; the caller validates it before it goes anywhere."""
    if correlation_ids is None:
        parent = current_event_id()
        correlation_ids = [parent] if parent else []
    envelope: dict[str, Any] = {
        "event_id": event_id or uuid7(),
        "event_type": event_type,
        "timestamp": timestamp_text(timestamp),
        "version": ENVELOPE_VERSION,
        "source": dict(source),
        "correlation_ids": list(correlation_ids),
        "payload": dict(payload),
    }
    if agent_context is not None:
        envelope["agent_context"] = dict(agent_context)
    if (context := trace_context()) is not None:
        envelope["trace_context"] = context
    return envelope
