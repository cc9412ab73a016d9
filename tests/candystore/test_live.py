"""The live hub: filters as GET /events means them, bounded queues, slow subscribers dropped, the ingest hook."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from bloodbank import build_envelope
from bloodbank.transport import OutgoingMessage
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.ingest import Ingestor
from candystore.live import GOING_AWAY, TOO_SLOW, HubFull, LiveHub, SubscriberDropped, matches_filter
from candystore.settings import CandystoreSettings
from candystore.store import EventFilter
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "live-tests"}


def event(
    event_type: str = "retail.offer.surfaced.v1",
    *,
    app: str = "shop",
    at: datetime = BASE,
    parents: list[str] | None = None,
    payload: dict[str, Any] | None = None,
    agent: str | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "timestamp": at.isoformat(),
        "version": "1.0.0",
        "source": {"host": "h", "type": "system", "app": app},
        "correlation_ids": parents or [],
        "payload": payload if payload is not None else {"n": 1},
    }
    if agent is not None:
        document["agent_context"] = {"type": "claude", "name": agent}
    return document


def test_type_pattern_source_agent_and_parent_filters():
    """Each filter keeps only the events GET /events would return for it."""
    parent = str(uuid.uuid4())
    offer = event(app="shop", parents=[parent.upper()], agent="pricer")
    other = event("github.pr.opened.v1", app="github")
    assert matches_filter(EventFilter(event_type="retail.#"), offer)
    assert not matches_filter(EventFilter(event_type="retail.#"), other)
    assert not matches_filter(EventFilter(event_type="retail.*"), offer)  # `*` is exactly one word
    assert matches_filter(EventFilter(event_type="*.offer.*.v1"), offer)
    assert matches_filter(EventFilter(event_type="#.v1"), other)
    assert matches_filter(EventFilter(source_app="shop"), offer)
    assert not matches_filter(EventFilter(source_app="shop"), other)
    assert matches_filter(EventFilter(agent_name="pricer"), offer)
    assert not matches_filter(EventFilter(agent_name="pricer"), other)
    assert matches_filter(EventFilter(correlation_id=parent), offer)  # ids compare as UUIDs
    assert not matches_filter(EventFilter(correlation_id=parent), other)


def test_time_window_is_inclusive_then_exclusive():
    """since keeps events at that instant, until drops them; offsets are compared as instants."""
    at_noon = event(at=BASE)
    assert matches_filter(EventFilter(since=BASE), at_noon)
    assert not matches_filter(EventFilter(until=BASE), at_noon)
    assert matches_filter(EventFilter(until=BASE + timedelta(microseconds=1)), at_noon)
    assert not matches_filter(EventFilter(since=BASE + timedelta(seconds=1)), at_noon)
    assert matches_filter(EventFilter(since=BASE.astimezone(timezone(timedelta(hours=2)))), at_noon)
    assert matches_filter(EventFilter(since=BASE), {**at_noon, "timestamp": "2026-03-01T14:00:00+02:00"})
    assert not matches_filter(EventFilter(since=BASE), {**at_noon, "timestamp": "yesterday"})


def test_payload_equality_compares_type_and_value():
    """Numbers equal by value; a string never equals a number; booleans and null equal only themselves."""
    document = event(payload={"qty": 3, "price": 2.5, "store": "1", "ok": True, "gone": None})
    assert matches_filter(EventFilter(payload={"qty": 3.0}), document)
    assert matches_filter(EventFilter(payload={"price": 2.5, "store": "1"}), document)
    assert not matches_filter(EventFilter(payload={"store": 1}), document)
    assert not matches_filter(EventFilter(payload={"qty": "3"}), document)
    assert matches_filter(EventFilter(payload={"ok": True}), document)
    assert not matches_filter(EventFilter(payload={"ok": 1}), document)
    assert not matches_filter(EventFilter(payload={"qty": True}), event(payload={"qty": 1}))
    assert matches_filter(EventFilter(payload={"gone": None}), document)
    assert not matches_filter(EventFilter(payload={"missing": None}), document)


async def test_publish_delivers_matching_events_in_order():
    """Subscribers receive only their matching events, in publish order, across calls."""
    hub = LiveHub()
    retail = hub.subscribe(EventFilter(event_type="retail.#"))
    everything = hub.subscribe()
    first, second = event(), event()
    noise = event("github.pr.opened.v1")
    hub.publish([first, noise])
    hub.publish([second])
    assert await retail.next_batch() == [first, second]
    assert await everything.next_batch() == [first, noise, second]
    retail.close()
    everything.close()
    assert hub.subscribers == 0


async def test_a_subscriber_that_falls_behind_is_dropped_and_the_others_go_on():
    """Past its queue bound a subscriber is dropped at once with code 1013 and how far behind it was."""
    hub = LiveHub(max_queue=3)
    slow = hub.subscribe()
    fast = hub.subscribe(max_queue=100)
    events = [event() for _ in range(5)]
    hub.publish(events[:2])
    hub.publish(events[2:])
    assert hub.subscribers == 1
    assert slow.behind == 0  # its backlog is let go at once
    with pytest.raises(SubscriberDropped) as dropped:
        await slow.next_batch()
    assert dropped.value.code == TOO_SLOW
    assert dropped.value.reason == "too slow: 5 events behind; catch up with GET /events"
    assert await fast.next_batch() == events
    hub.publish([event()])  # publishing goes on, to the subscribers left
    assert fast.behind == 1


async def test_close_drops_every_subscriber_as_going_away():
    """Closing the hub ends every subscriber's wait with code 1001."""
    hub = LiveHub()
    subscriber = hub.subscribe()
    hub.close()
    with pytest.raises(SubscriberDropped) as dropped:
        await subscriber.next_batch()
    assert dropped.value.code == GOING_AWAY
    assert hub.subscribers == 0


def test_max_queue_must_be_positive():
    """A hub refuses a queue bound below one."""
    with pytest.raises(ValueError, match="max_queue must be at least 1, got 0"):
        LiveHub(max_queue=0)
    with pytest.raises(ValueError, match="max_subscribers must be at least 1, got 0"):
        LiveHub(max_subscribers=0)


def test_a_full_hub_refuses_one_more_subscriber_until_one_leaves():
    """Past max_subscribers, subscribe raises HubFull (code 1013) with the limit; a place freed is taken again."""
    hub = LiveHub(max_subscribers=2)
    first = hub.subscribe()
    hub.subscribe()
    with pytest.raises(HubFull) as refused:
        hub.subscribe()
    assert refused.value.code == 1013
    assert refused.value.reason == "the live stream is full (2 subscribers); try again later"
    assert hub.subscribers == 2
    first.close()
    hub.subscribe()
    assert hub.subscribers == 2


def test_a_pathological_type_filter_is_answered():
    """A filter of many `#` against an event of a long type is matched without backtracking, and misses."""
    pattern = "#." * 120 + "z"
    long_type = ".".join(["a"] * 50_000)
    assert not matches_filter(EventFilter(event_type=pattern), event(long_type))
    assert matches_filter(EventFilter(event_type=pattern), event(long_type + ".z"))


@pytest.fixture
async def transport(tmp_path):
    embedded = EmbeddedTransport(tmp_path / "bus.sqlite3")
    await embedded.connect()
    await embedded.declare_topology()
    yield embedded
    await embedded.close()


async def publish(transport, *envelopes: dict[str, Any]) -> None:
    messages = [
        OutgoingMessage(msgspec.json.encode(envelope), str(envelope["event_type"]), str(envelope["event_id"]))
        for envelope in envelopes
    ]
    await transport.publish_batch(messages, timeout=5)


async def test_ingestor_hands_newly_stored_events_to_the_hub(transport, store, tmp_path):
    """After each commit the ingestor publishes what it stored; a redelivered duplicate is not published again."""
    hub = LiveHub()
    subscriber = hub.subscribe()
    settings = CandystoreSettings(data_dir=tmp_path, batch_size=10, batch_wait=0.02)
    ingestor = Ingestor(transport, store, settings=settings, registry=CollectorRegistry(), on_committed=hub.publish)
    await ingestor.start()
    try:
        events = [build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE) for _ in range(3)]
        await publish(transport, *events)
        received: list[Any] = []

        async def got_all() -> bool:
            received.extend(await asyncio.wait_for(subscriber.next_batch(), 10))
            return len(received) >= 3

        await eventually(got_all)
        assert sorted(e["event_id"] for e in received) == sorted(e["event_id"] for e in events)
        await publish(transport, events[0])
        await eventually(lambda: ingestor.metrics.store.labels("duplicate")._value.get() == 1)
        assert subscriber.behind == 0
    finally:
        await ingestor.stop(timeout=5)


async def test_a_failing_listener_does_not_stop_ingestion(transport, store, tmp_path):
    """A listener that raises is logged; the events are still stored and acknowledged."""

    def broken(_envelopes: Any) -> None:
        raise RuntimeError("listener bug")

    settings = CandystoreSettings(data_dir=tmp_path, batch_size=10, batch_wait=0.02)
    ingestor = Ingestor(transport, store, settings=settings, registry=CollectorRegistry(), on_committed=broken)
    await ingestor.start()
    try:
        await publish(transport, build_envelope("retail.offer.surfaced.v1", OFFER, source=SOURCE))
        await eventually(lambda: ingestor.metrics.store.labels("stored")._value.get() == 1)
    finally:
        await ingestor.stop(timeout=5)
    assert await transport.queue_depth(ingestor.spec.name) == 0
    assert len((await store.query()).items) == 1
