"""Envelope building, the legacy upgrade and topic matching: the pure parts of Bloodbank."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from bloodbank import (
    BloodbankSettings,
    ConsumerSpec,
    build_envelope,
    current_event_id,
    timestamp_text,
    upgrade_legacy_envelope,
    uuid7,
)
from bloodbank.envelope import _UtcClock, handling
from bloodbank.legacy import is_legacy
from bloodbank.topology import matches
from holyfields import default_catalog, default_validator

OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test-host", "type": "system", "app": "tests"}


def test_uuid7_is_a_time_ordered_version_7_uuid() -> None:
    """Generated ids are RFC 9562 version 7, variant 10, and sort by creation time."""
    ids = [uuid7() for _ in range(200)]
    parsed = [uuid.UUID(i) for i in ids]
    assert {p.version for p in parsed} == {7}
    assert {p.variant for p in parsed} == {uuid.RFC_4122}
    millis = [p.int >> 80 for p in parsed]
    assert millis == sorted(millis)
    assert abs(millis[-1] - datetime.now(UTC).timestamp() * 1000) < 5_000
    assert len(set(ids)) == 200


def test_built_envelope_is_valid_and_in_utc() -> None:
    """A built envelope passes validation, with a UTC timestamp and no parent outside a handler."""
    local = datetime(2026, 11, 2, 15, 3, 27, tzinfo=timezone(timedelta(hours=1)))
    envelope = build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE, timestamp=local)
    assert default_validator().validate(envelope) == []
    assert envelope["timestamp"] == "2026-11-02T14:03:27Z"
    assert envelope["correlation_ids"] == []
    assert envelope["version"] == "1.0.0"
    assert "trace_context" not in envelope


def test_now_is_written_in_utc_to_the_microsecond_across_seconds() -> None:
    """The current time as envelope text: the clock's own instant, with Z, also when the second changes."""
    before = datetime.now(UTC)
    written = datetime.fromisoformat(timestamp_text())
    assert before - timedelta(milliseconds=1) <= written <= datetime.now(UTC)
    instants = iter([1_796_041_407_999_999_500, 1_796_041_408_000_000_400, 1_796_041_408_123_456_000])
    clock = _UtcClock(lambda: next(instants))
    assert [clock.now() for _ in range(3)] == [
        "2026-11-30T12:23:27.999999Z",
        "2026-11-30T12:23:28.000000Z",
        "2026-11-30T12:23:28.123456Z",
    ]


def test_envelope_built_while_handling_names_the_parent() -> None:
    """Inside `handling(parent)`, a new envelope inherits the parent unless given correlation ids."""
    parent = uuid7()
    with handling(parent):
        assert current_event_id() == parent
        child = build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE)
        explicit = build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE, correlation_ids=[])
    assert child["correlation_ids"] == [parent]
    assert explicit["correlation_ids"] == []
    assert current_event_id() is None


def test_trace_context_comes_from_the_current_span() -> None:
    """The current OpenTelemetry span's ids are written as W3C trace context."""
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        envelope = build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE)
    assert envelope["trace_context"] == {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "trace_flags": "01",
    }
    assert default_validator().validate(envelope) == []


LEGACY = {
    "id": "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
    "event_type": "retail.offer.surfaced.v1",
    "timestamp": "2026-11-02T14:03:27Z",
    "source": "magic-apron",
    "correlation_id": "0193a5f1-0a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "payload": OFFER,
    "session_id": "abc",
}


def test_legacy_envelope_is_upgraded_without_loss() -> None:
    """A legacy envelope becomes a valid canonical one that keeps every value it had."""
    assert is_legacy(LEGACY)
    upgraded = upgrade_legacy_envelope(LEGACY, host="gateway-1")
    assert default_validator().validate(upgraded) == []
    assert upgraded["event_id"] == LEGACY["id"]
    assert upgraded["correlation_ids"] == [LEGACY["correlation_id"]]
    assert upgraded["version"] == "1.0.0"
    assert upgraded["source"] == {
        "host": "gateway-1",
        "type": "system",
        "app": "magic-apron",
        "meta": {"legacy_source": "magic-apron", "legacy_fields": {"session_id": "abc"}},
    }


def test_canonical_envelope_is_not_legacy() -> None:
    """A canonical envelope is never taken for a legacy one."""
    assert not is_legacy(build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE))


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("#", "retail.offer.surfaced.v1", True),
        ("retail.#", "retail.offer.surfaced.v1", True),
        ("retail.*", "retail.offer.surfaced.v1", False),
        ("retail.*.*.v1", "retail.offer.surfaced.v1", True),
        ("*.offer.#", "retail.offer.surfaced.v1", True),
        ("retail.#.v1", "retail.v1", True),
        ("fireflies.#", "retail.offer.surfaced.v1", False),
        ("retail.offer.surfaced.v1", "retail.offer.surfaced.v1", True),
    ],
)
def test_topic_patterns_match_like_amqp(pattern: str, key: str, expected: bool) -> None:
    """`*` matches one word and `#` zero or more, as in an AMQP topic exchange."""
    assert matches(pattern, key) is expected


def test_consumer_queue_arguments_follow_the_design() -> None:
    """The consumer queue is quorum, dead-letters at-least-once to dlq.{consumer}, with explicit limits."""
    spec = ConsumerSpec("candystore.events", ("#",))
    assert spec.queue_arguments() == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "bloodbank.events.dlq",
        "x-dead-letter-routing-key": "dlq.candystore.events",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-max-length": 1_000_000,
        "x-delivery-limit": 10,
    }
    assert [spec.retry_queue(d) for d in spec.retry_delays] == [
        "candystore.events.retry.1s",
        "candystore.events.retry.2s",
        "candystore.events.retry.4s",
    ]
    assert spec.retry_queue_arguments(2.0)["x-message-ttl"] == 2000
    assert spec.retry_queue_arguments(2.0)["x-dead-letter-routing-key"] == "candystore.events"


def test_consumer_spec_refuses_bad_names_and_empty_bindings() -> None:
    """A consumer needs a name without spaces and at least one binding."""
    with pytest.raises(ValueError, match="without spaces"):
        ConsumerSpec("my consumer", ("#",))
    with pytest.raises(ValueError, match="at least one binding"):
        ConsumerSpec("c", ())
    with pytest.raises(ValueError, match=r"'retail\*' is not a valid event-type pattern"):
        ConsumerSpec("c", ("retail*",))


def test_settings_read_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists come from one comma-separated environment variable."""
    monkeypatch.setenv("BLOODBANK_CORS_ORIGINS", "http://a, http://b,,http://c")
    monkeypatch.setenv("BLOODBANK_PUBLISH_TIMEOUT", "2.5")
    settings = BloodbankSettings()
    assert settings.cors_origins == ["http://a", "http://b", "http://c"]
    assert settings.publish_timeout == 2.5


def test_event_model_drift_is_a_permanent_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A validated event its generated model refuses (schema/model drift) fails permanently, not retryably."""
    import pydantic  # noqa: PLC0415

    from bloodbank import Event, PermanentFailure  # noqa: PLC0415
    from holyfields.generated.python import PAYLOAD_MODELS  # noqa: PLC0415

    class Stricter(pydantic.BaseModel):
        missing_field: int

    monkeypatch.setitem(PAYLOAD_MODELS, "retail.offer.surfaced.v1", Stricter)
    event = Event(build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE), attempt=1)
    assert event.envelope.event_type == "retail.offer.surfaced.v1"
    with pytest.raises(PermanentFailure, match="does not fit the generated model Stricter"):
        _ = event.payload
