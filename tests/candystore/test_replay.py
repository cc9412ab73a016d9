"""Replaying dead letters and stored events through a real embedded broker, on each store backend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from bloodbank import BrokerUnavailable, ConsumerSpec, Publisher, PublishStatus, build_envelope
from bloodbank.topology import Headers
from bloodbank.transport import OutgoingMessage, PublishResult
from candystore.replay import EVENT_REPLAY_MARK, EventReplay, ReplayOutcome, replay_dead_letters, replay_events
from candystore.store import EventFilter
from candystore.store.dead_letters import DeadLetter, DeadLetterFilter, DeadLetterState
from holyfields import default_catalog, default_validator
from tests.candystore.bus_helpers import received, watched_bus

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "replay-tests"}
WATCH = ConsumerSpec("replay.watch", ("#",))


@pytest.fixture
async def transport(tmp_path):
    async with watched_bus(tmp_path / "bus.sqlite3", WATCH) as embedded:
        yield embedded


@pytest.fixture
def publisher(transport) -> Publisher:
    return Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)


def offer() -> dict[str, Any]:
    return build_envelope(OFFER_TYPE, OFFER, source=SOURCE)


def letter(body: bytes, *, consumer: str = "pricing.checker", error: str = "RuntimeError: boom") -> DeadLetter:
    document = msgspec.json.decode(body) if body.startswith(b"{") else {}
    return DeadLetter(
        body=body,
        routing_key=f"dlq.{consumer}",
        headers={Headers.CONSUMER: consumer, Headers.ERROR: error, "n": str(uuid.uuid4())},
        event_id=None,  # as the keeper reads it when the body names no valid id
        consumer=consumer,
        event_type=document.get("event_type"),
        error=error,
        attempts=3,
    )


async def kept(store, *letters: DeadLetter) -> list[str]:
    """Keep the letters; their ids, in the order given."""
    await store.keep_dead_letters(list(letters))
    page = await store.dead_letters(limit=1000)
    by_fingerprint = {row.headers["n"]: row.id for row in page.items}
    return [by_fingerprint[item.headers["n"]] for item in letters]


async def test_replay_by_ids_publishes_marks_resolved_and_keeps_bad_bodies_open(store, transport, publisher):
    """A valid letter is republished marked as a replay and resolved; a bad body stays open with the reason."""
    event = offer()
    good, bad, broken = await kept(
        store,
        letter(msgspec.json.encode(event)),
        letter(b"\xff not json"),
        letter(msgspec.json.encode({**event, "event_id": "nope", "payload": {}})),
    )
    unknown = str(uuid.uuid4())
    results = await replay_dead_letters(store, publisher, actor="ops@example.com", ids=[good, bad, broken, unknown])
    assert [(r.id, r.outcome) for r in results] == [
        (good, ReplayOutcome.REPLAYED),
        (bad, ReplayOutcome.INVALID),
        (broken, ReplayOutcome.INVALID),
        (unknown, ReplayOutcome.NOT_FOUND),
    ]
    assert results[0].event_id == event["event_id"]
    assert results[1].reason is not None
    assert results[1].reason.startswith("invalid event: $: the body is not valid JSON")
    assert results[2].reason is not None
    assert "$.event_id" in results[2].reason
    (delivery,) = await received(transport, WATCH, expect=1)
    assert msgspec.json.decode(delivery.body) == event
    assert delivery.headers[Headers.REPLAY] == f"dead-letter:{good}"
    resolved = await store.dead_letter(good)
    assert resolved.state is DeadLetterState.RESOLVED
    assert resolved.resolved_by == "ops@example.com"
    assert resolved.replayed_event_id == event["event_id"]
    assert resolved.resolved_at is not None
    assert resolved.resolved_at <= datetime.now(UTC)
    for still_open in (bad, broken):
        assert (await store.dead_letter(still_open)).state is DeadLetterState.OPEN


async def test_a_resolved_or_discarded_letter_is_not_replayed_again(store, transport, publisher):
    """Replaying a letter that already left open publishes nothing and says its state."""
    first, second = await kept(store, letter(msgspec.json.encode(offer())), letter(msgspec.json.encode(offer())))
    await replay_dead_letters(store, publisher, actor="a", ids=[first])
    await store.discard_dead_letter(second, actor="b", reason="known bad data")
    again = await replay_dead_letters(store, publisher, actor="a", ids=[first, second])
    assert [(r.outcome, r.reason) for r in again] == [
        (ReplayOutcome.NOT_OPEN, "it is resolved"),
        (ReplayOutcome.NOT_OPEN, "it is discarded"),
    ]
    await received(transport, WATCH, expect=1)


async def test_replay_by_filter_takes_only_open_matching_letters_oldest_first(store, transport, publisher):
    """A filter selects open letters of one consumer; others and discarded ones are left alone."""
    events = [offer() for _ in range(3)]
    ids = await kept(
        store,
        letter(msgspec.json.encode(events[0]), consumer="pricing.checker"),
        letter(msgspec.json.encode(events[1]), consumer="pricing.checker"),
        letter(msgspec.json.encode(events[2]), consumer="someone.else"),
    )
    await store.discard_dead_letter(ids[1], actor="b", reason="duplicate")
    results = await replay_dead_letters(
        store, publisher, actor="a", filters=DeadLetterFilter(consumer="pricing.checker", reason="BOOM")
    )
    assert [(r.id, r.outcome) for r in results] == [(ids[0], ReplayOutcome.REPLAYED)]
    (delivery,) = await received(transport, WATCH, expect=1)
    assert msgspec.json.decode(delivery.body)["event_id"] == events[0]["event_id"]
    assert (await store.dead_letter(ids[2])).state is DeadLetterState.OPEN


async def test_ids_or_filters_exactly_one_and_an_actor(store, publisher):
    """Both or neither of ids and filters, or a blank actor, are refused before anything happens."""
    with pytest.raises(ValueError, match="give either ids or filters"):
        await replay_dead_letters(store, publisher, actor="a")
    with pytest.raises(ValueError, match="give either ids or filters"):
        await replay_dead_letters(store, publisher, actor="a", ids=[], filters=DeadLetterFilter())
    with pytest.raises(ValueError, match="actor must name who replays"):
        await replay_dead_letters(store, publisher, actor=" ", ids=[])


async def test_replay_events_republishes_matching_events_page_by_page(store, transport, publisher):
    """Stored events of a type in a window are republished in order, marked as replays, with progress."""
    base = datetime(2026, 3, 1, tzinfo=UTC)
    inside = [build_envelope(OFFER_TYPE, OFFER, source=SOURCE, timestamp=base + timedelta(minutes=i)) for i in range(5)]
    late = build_envelope(OFFER_TYPE, OFFER, source=SOURCE, timestamp=base + timedelta(days=2))
    other = build_envelope("n8n.workflow.started.v1", _n8n_payload(), source=SOURCE, timestamp=base)
    await store.store_batch([*inside, late, other])
    progress: list[EventReplay] = []
    filters = EventFilter(event_type="retail.#", since=base, until=base + timedelta(days=1))
    assert await store.count(filters) == 5
    result = await replay_events(store, publisher, filters, progress=progress.append, page_size=2)
    assert (result.replayed, result.invalid, result.failed, result.total) == (5, 0, 0, 5)
    assert [done.total for done in progress] == [2, 4, 5]
    deliveries = await received(transport, WATCH, expect=5)
    assert [msgspec.json.decode(d.body)["event_id"] for d in deliveries] == [e["event_id"] for e in inside]
    assert {d.headers[Headers.REPLAY] for d in deliveries} == {EVENT_REPLAY_MARK}


async def test_replay_events_counts_events_that_no_longer_validate(store, transport, publisher):
    """A stored event the current schemas refuse is counted invalid and not published."""
    good = offer()
    stale = {**offer(), "payload": {"legacy": True}}
    await store.store_batch([good, stale])
    result = await replay_events(store, publisher, EventFilter())
    assert (result.replayed, result.invalid) == (1, 1)
    await received(transport, WATCH, expect=1)


def _n8n_payload() -> dict[str, Any]:
    return default_catalog().get("n8n.workflow.started.v1").examples[0]  # type: ignore[union-attr,no-any-return]


async def test_replay_events_stops_when_the_broker_stops_confirming(store, transport):
    """The broker gone in the middle of a page: the run raises BrokerUnavailable saying how many were replayed."""
    await store.store_batch([offer() for _ in range(6)])
    confirm = transport.publish_each
    sent = 0

    async def gone_after_three(messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        nonlocal sent
        kept, lost = messages[: max(3 - sent, 0)], messages[max(3 - sent, 0) :]
        sent += len(messages)
        results = await confirm(kept, timeout=timeout) if kept else []
        return results + [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, "gone") for m in lost]

    transport.publish_each = gone_after_three
    publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=0.2)
    with pytest.raises(BrokerUnavailable, match=r"within 0\.2 s: gone; 3 events were replayed before it$"):
        await replay_events(store, publisher, EventFilter(), page_size=2)
    await received(transport, WATCH, expect=3)
