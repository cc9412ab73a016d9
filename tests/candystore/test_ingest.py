"""The batching consumer and the dead-letter keeper, on the embedded broker and each store backend.

A database outage holds a batch; a record the database refuses (or an unexpected error one
record causes) is isolated from its batch: dead-lettered by the ingestor, kept reduced by the keeper.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select

from bloodbank import build_envelope
from bloodbank.topology import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, Headers
from bloodbank.transport import Delivery, OutgoingMessage
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.dead_letters import REDUCED_HEADER, DeadLetterKeeper
from candystore.ingest import CONSUMER, Ingestor
from candystore.settings import CandystoreSettings
from candystore.store import DatabaseUnavailable, DeadLetter, EventStore, RecordRejected, StoreResult
from candystore.store.schema import causation, dead_letters
from gumdrop.backoff import Backoff
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually

OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "candystore-tests"}
QUEUE = CONSUMER.name


class FlakyStore(EventStore):
    """The real store on the same engines, whose writes raise DatabaseUnavailable while ``down`` is set."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store.engine, autocommit_engine=store.autocommit_engine)
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise DatabaseUnavailable("the database is unavailable: connection refused (test outage)")

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        self._check()
        return await super().store_batch(envelopes)

    async def keep_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        self._check()
        return await super().keep_dead_letters(letters)


class PoisonedStore(EventStore):
    """The real store; a batch holding the ``poison`` event makes the database refuse a row, or raises ``error``."""

    def __init__(self, store: EventStore, poison: str, error: Exception | None = None) -> None:
        super().__init__(store.engine, autocommit_engine=store.autocommit_engine)
        self.poison = poison
        self.error = error

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        if any(envelope.get("event_id") == self.poison for envelope in envelopes):
            if self.error is not None:
                raise self.error
            async with self._transaction() as connection:  # a NOT NULL violation, refused by the database itself
                await connection.execute(insert(causation).values(parent_id=None, child_id=uuid.uuid4()))
        return await super().store_batch(envelopes)


@pytest.fixture
async def transport(tmp_path):
    embedded = EmbeddedTransport(tmp_path / "bus.sqlite3")
    await embedded.connect()
    await embedded.declare_topology()
    yield embedded
    await embedded.close()


@pytest.fixture
def settings(tmp_path) -> CandystoreSettings:
    return CandystoreSettings(data_dir=tmp_path, batch_size=10, batch_wait=0.02)


@pytest.fixture
def flaky(store) -> FlakyStore:
    return FlakyStore(store)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def ingestor(transport, flaky, settings, registry):
    running = Ingestor(transport, flaky, settings=settings, registry=registry)
    running.batches.backoff = Backoff(first=0.05, ceiling=0.2)  # a fast outage test
    await running.start()
    yield running
    await running.stop(timeout=5)


def offer(**options: Any) -> dict[str, Any]:
    return build_envelope("retail.offer.surfaced.v1", options.pop("payload", OFFER), source=SOURCE, **options)


async def publish(transport, *envelopes: Mapping[str, Any]) -> None:
    messages = [
        OutgoingMessage(msgspec.json.encode(envelope), str(envelope["event_type"]), str(envelope["event_id"]))
        for envelope in envelopes
    ]
    await transport.publish_batch(messages, timeout=5)


async def publish_raw(transport, body: bytes, message_id: str = "raw-1") -> None:
    await transport.publish_batch([OutgoingMessage(body, "retail.offer.surfaced.v1", message_id)], timeout=5)


async def drain(transport, queue: str, *, expect: int) -> list[Delivery]:
    """Take ``expect`` messages out of ``queue`` (acknowledging them), then check no more arrive."""
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)
        await delivery.ack()

    subscription = await transport.consume_queue(queue, keep, prefetch=50)
    try:
        await eventually(lambda: len(received) >= expect, timeout=10)
        await asyncio.sleep(0.1)
    finally:
        await subscription.stop(timeout=5)
    assert len(received) == expect
    return received


async def stored_count(store: EventStore) -> int:
    return len((await store.query(limit=1000)).items)


def counted(registry: CollectorRegistry, outcome: str) -> float:
    return registry.get_sample_value("candystore_store_total", {"outcome": outcome}) or 0.0


async def test_published_events_are_stored_in_batches_and_acknowledged(transport, ingestor, flaky, registry):
    """Twenty-five events end stored, exactly as published, acknowledged (nothing comes back) and counted."""
    events = [offer() for _ in range(25)]
    await publish(transport, *events)
    await eventually(lambda: counted(registry, "stored") == 25)
    assert await stored_count(flaky) == 25
    assert await flaky.get(events[7]["event_id"]) == events[7]
    assert flaky.calls >= 3  # batches of at most ten
    assert registry.get_sample_value("candystore_e2e_latency_seconds_count") == 25
    await ingestor.stop(timeout=5)
    assert await transport.queue_depth(QUEUE) == 0  # unacknowledged deliveries would be back in the queue
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0


async def test_duplicate_publish_is_absorbed(transport, ingestor, flaky, registry):
    """The same event published twice leaves one row, both deliveries acknowledged, nothing dead-lettered."""
    event = offer()
    await publish(transport, event)
    await eventually(lambda: counted(registry, "stored") == 1)
    await publish(transport, event)
    await eventually(lambda: counted(registry, "duplicate") == 1)
    assert await stored_count(flaky) == 1
    await ingestor.stop(timeout=5)
    assert await transport.queue_depth(QUEUE) == 0
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0


@pytest.mark.usefixtures("ingestor")
async def test_conflicting_reuse_of_an_id_is_dead_lettered_and_the_first_kept(transport, flaky, registry):
    """An event reusing a stored id with other content goes to dlq.all with the reason; the first stays."""
    first = offer()
    await publish(transport, first)
    await eventually(lambda: counted(registry, "stored") == 1)
    impostor = {**first, "payload": {**OFFER, "team": "impostors"}}
    await publish(transport, impostor)
    (dead,) = await drain(transport, DEAD_LETTER_QUEUE, expect=1)
    assert dead.headers[Headers.ERROR] == (
        f"event id reused with different content: event_id {first['event_id']} is already stored"
        " with different content; the first is kept"
    )
    assert dead.headers[Headers.CONSUMER] == QUEUE
    assert dead.headers[Headers.ATTEMPTS] == 1
    assert msgspec.json.decode(dead.body) == impostor
    assert await flaky.get(first["event_id"]) == first
    assert counted(registry, "conflict") == 1


@pytest.mark.usefixtures("ingestor")
async def test_invalid_messages_are_dead_lettered_at_once(transport, flaky, registry):
    """A body that is not JSON and an envelope without event_id are dead-lettered, never stored."""
    await publish_raw(transport, b"\xff not json")
    await publish_raw(transport, msgspec.json.encode({"event_type": "retail.offer.surfaced.v1", "payload": {}}))
    dead = await drain(transport, DEAD_LETTER_QUEUE, expect=2)
    errors = sorted(str(d.headers[Headers.ERROR]) for d in dead)
    assert errors[0].startswith("InvalidEvent: invalid event: $.event_id: is required")
    assert errors[1].startswith("InvalidEvent: invalid event: $: not valid JSON")
    assert {d.headers[Headers.ATTEMPTS] for d in dead} == {0}
    assert await stored_count(flaky) == 0
    assert flaky.calls == 0
    assert counted(registry, "invalid") == 2


async def test_database_outage_holds_deliveries_then_stores_them_all(transport, ingestor, flaky, registry):
    """While writes fail the batch is held and retried with backoff, then every event is stored, none dead-lettered."""
    flaky.down = True
    events = [offer() for _ in range(5)]
    await publish(transport, *events)
    await eventually(lambda: flaky.calls >= 3)
    await asyncio.sleep(1.0)
    assert flaky.calls <= 10  # backoff 0.05 s doubling to 0.2 s: no hot loop
    assert ingestor.batches.failing
    assert ingestor.batches.in_hand == 5
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    flaky.down = False
    await eventually(lambda: counted(registry, "stored") == 5)
    assert not ingestor.batches.failing
    assert await stored_count(flaky) == 5
    await ingestor.stop(timeout=5)
    assert await transport.queue_depth(QUEUE) == 0
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0


async def test_stop_during_an_outage_releases_the_batch_unacknowledged(transport, ingestor, flaky):
    """Stopping while the database is down gives every held delivery back to the queue, none acked or dead-lettered."""
    flaky.down = True
    await publish(transport, *(offer() for _ in range(5)))
    await eventually(lambda: ingestor.batches.failing and ingestor.batches.in_hand == 5)
    await ingestor.stop(timeout=2)
    assert await transport.queue_depth(QUEUE) == 5
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    assert await stored_count(flaky) == 0


async def test_stop_flushes_the_batch_in_hand(transport, flaky, registry, tmp_path):
    """Events still waiting for a partial batch to fill are stored and acknowledged by stop()."""
    slow = CandystoreSettings(data_dir=tmp_path, batch_size=100, batch_wait=60)
    ingestor = Ingestor(transport, flaky, settings=slow, registry=registry)
    await ingestor.start()
    await publish(transport, *(offer() for _ in range(3)))
    await eventually(lambda: ingestor.batches.in_hand == 3)
    await ingestor.stop(timeout=5)
    assert await stored_count(flaky) == 3
    assert await transport.queue_depth(QUEUE) == 0


@pytest.mark.parametrize(
    "error",
    [None, OverflowError("date value out of range")],
    ids=["refused by the database", "unexpected exception"],
)
async def test_a_poison_event_is_dead_lettered_with_its_reason_and_the_rest_stored(
    transport, store, settings, registry, error
):
    """One event whose write fails (the database refuses its row, or an unexpected error) is dead-lettered alone."""
    events = [offer() for _ in range(20)]
    poison = events[13]
    poisoned = PoisonedStore(store, poison["event_id"], error)
    ingestor = Ingestor(transport, poisoned, settings=settings, registry=registry)
    await ingestor.start()
    try:
        await publish(transport, *events)
        (dead,) = await drain(transport, DEAD_LETTER_QUEUE, expect=1)
        await eventually(lambda: counted(registry, "stored") == 19)
    finally:
        await ingestor.stop(timeout=5)
    assert msgspec.json.decode(dead.body) == poison
    reason = str(dead.headers[Headers.ERROR])
    if error is None:
        assert reason.startswith("not storable: RecordRejected: the database refused the data (")
        assert "parent_id" in reason
    else:
        assert reason == "not storable: OverflowError: date value out of range"
    assert (dead.headers[Headers.CONSUMER], dead.headers[Headers.ATTEMPTS]) == (QUEUE, 1)
    assert counted(registry, "invalid") == 1
    assert await stored_count(poisoned) == 19
    assert await poisoned.get(poison["event_id"]) is None
    assert await transport.queue_depth(QUEUE) == 0
    assert not ingestor.batches.failing


async def test_a_timestamp_past_the_range_of_utc_is_dead_lettered_and_the_rest_stored(
    transport, ingestor, flaky, registry
):
    """An event stamped 0001-01-01T00:00:00+14:00 (before year 1 in UTC) is dead-lettered, never holding its batch."""
    hostile = offer()
    hostile["timestamp"] = "0001-01-01T00:00:00+14:00"
    await publish(transport, offer(), hostile, offer())
    (dead,) = await drain(transport, DEAD_LETTER_QUEUE, expect=1)
    await eventually(lambda: counted(registry, "stored") == 2)
    assert msgspec.json.decode(dead.body) == hostile
    assert dead.headers[Headers.ERROR]
    assert counted(registry, "invalid") == 1
    assert not ingestor.batches.failing
    assert await stored_count(flaky) == 2


async def kept_letters(store: EventStore) -> list[Any]:
    async with store.engine.connect() as connection:
        return list((await connection.execute(select(dead_letters).order_by(dead_letters.c.routing_key))).all())


@pytest.mark.usefixtures("ingestor")  # it dead-letters the invalid messages
async def test_keeper_stores_dead_letters_with_their_headers(transport, flaky, settings, registry):
    """A dead letter lands in the dead_letters table, open, with consumer, error, attempts, failed_at and body."""
    keeper = DeadLetterKeeper(transport, flaky, settings=settings, registry=registry)
    await keeper.start()
    try:
        event_id = str(uuid.uuid4())
        body = msgspec.json.encode({"event_id": event_id, "event_type": "retail.offer.surfaced.v1", "payload": {}})
        await publish_raw(transport, body, message_id=event_id)
        await publish_raw(transport, b"\xff not json")
        await eventually(
            lambda: registry.get_sample_value("candystore_dead_letters_drained_total", {"outcome": "kept"}) == 2
        )
    finally:
        await keeper.stop(timeout=5)
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    rows = {row.body_encoding: row for row in await kept_letters(flaky)}
    invalid, raw = rows["utf-8"], rows["base64"]
    assert invalid.event_id == uuid.UUID(event_id)
    assert invalid.event_type == "retail.offer.surfaced.v1"
    assert invalid.consumer == QUEUE
    assert invalid.error.startswith("InvalidEvent: invalid event:")
    assert invalid.attempts == 0
    assert invalid.failed_at is not None
    assert invalid.state == "open"
    assert invalid.body == body.decode()
    assert invalid.headers[Headers.CONSUMER] == QUEUE
    assert raw.event_id is None
    assert base64.b64decode(raw.body) == b"\xff not json"


def dead_letter_message(body: bytes = b"lost") -> OutgoingMessage:
    headers: dict[str, str | int] = {
        Headers.CONSUMER: "someone",
        Headers.ATTEMPTS: 3,
        Headers.ERROR: "RuntimeError: boom",
    }
    return OutgoingMessage(body, "dlq.someone", "m-1", headers, exchange=DEAD_LETTER_EXCHANGE)


@pytest.fixture
async def keeper(transport, flaky, settings, registry):
    running = DeadLetterKeeper(transport, flaky, settings=settings, registry=registry)
    running.batches.backoff = Backoff(first=0.05, ceiling=0.2)
    await running.start()
    yield running
    await running.stop(timeout=5)


def kept(registry: CollectorRegistry, outcome: str) -> float:
    return registry.get_sample_value("candystore_dead_letters_drained_total", {"outcome": outcome}) or 0.0


async def test_keeper_holds_dead_letters_during_an_outage(transport, keeper, flaky, registry):
    """While the database is down the keeper holds the letter; once it is back, the letter is kept and acked."""
    flaky.down = True
    await transport.publish_batch([dead_letter_message()], timeout=5)
    await eventually(lambda: flaky.calls >= 3)
    assert keeper.batches.failing
    assert keeper.batches.in_hand == 1
    assert await kept_letters(flaky) == []
    flaky.down = False
    await eventually(lambda: kept(registry, "kept") == 1)
    await keeper.stop(timeout=5)
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    (row,) = await kept_letters(flaky)
    assert (row.consumer, row.attempts, row.error, row.failed_at) == ("someone", 3, "RuntimeError: boom", None)


@pytest.mark.usefixtures("keeper")
async def test_keeper_absorbs_a_redelivered_dead_letter(transport, flaky, registry):
    """The same dead letter delivered twice (a crash between commit and ack) is kept once."""
    await transport.publish_batch([dead_letter_message()], timeout=5)
    await eventually(lambda: kept(registry, "kept") == 1)
    await transport.publish_batch([dead_letter_message()], timeout=5)
    await eventually(lambda: kept(registry, "duplicate") == 1)
    assert len(await kept_letters(flaky)) == 1


def refused_letter(event_id: str) -> OutgoingMessage:
    """A dead letter whose attempts header no integer column holds (the database refuses its row)."""
    body = msgspec.json.encode({"event_id": event_id, "event_type": "retail.offer.surfaced.v1", "payload": {}})
    headers: dict[str, str | int] = {
        Headers.CONSUMER: "someone",
        Headers.ATTEMPTS: "100000000000000000000",
        Headers.ERROR: "RuntimeError: boom",
    }
    return OutgoingMessage(body, "dlq.someone", event_id, headers, exchange=DEAD_LETTER_EXCHANGE)


async def test_keeper_keeps_a_letter_the_database_refuses_reduced_and_the_others_whole(
    transport, keeper, flaky, registry
):
    """A letter whose row is refused is kept reduced (body, id, a note for headers), the others of its batch whole."""
    event_id = str(uuid.uuid4())
    refused = refused_letter(event_id)
    await transport.publish_batch([dead_letter_message(b"first"), refused, dead_letter_message(b"last")], timeout=5)
    await eventually(lambda: kept(registry, "kept") == 2 and kept(registry, "reduced") == 1)
    await keeper.stop(timeout=5)
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    rows = {row.body: row for row in await kept_letters(flaky)}
    assert (rows["first"].attempts, rows["last"].attempts) == (3, 3)
    reduced = rows[refused.body.decode()]
    assert (reduced.event_id, reduced.consumer, reduced.event_type) == (
        uuid.UUID(event_id),
        "someone",
        "retail.offer.surfaced.v1",
    )
    assert (reduced.attempts, reduced.failed_at, reduced.state) == (None, None, "open")
    assert reduced.error.startswith("kept reduced: the letter as received could not be stored (")
    assert reduced.error.endswith("; its error: RuntimeError: boom")
    assert list(reduced.headers) == [REDUCED_HEADER]
    assert not keeper.batches.failing


@pytest.mark.usefixtures("keeper")
async def test_keeper_absorbs_a_redelivered_letter_kept_reduced(transport, flaky, registry):
    """The same refused letter delivered twice is kept reduced once: its reduced form has one fingerprint."""
    event_id = str(uuid.uuid4())
    await transport.publish_batch([refused_letter(event_id)], timeout=5)
    await eventually(lambda: kept(registry, "reduced") == 1)
    await transport.publish_batch([refused_letter(event_id)], timeout=5)
    await eventually(lambda: kept(registry, "duplicate") == 1)
    assert len(await kept_letters(flaky)) == 1


class CursedStore(FlakyStore):
    """The real store, refusing every write that holds a letter whose body is ``cursed``, even reduced."""

    async def keep_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        if any(letter.body == b"cursed" for letter in letters):
            self.calls += 1
            raise RecordRejected("the database refused the data (22000): cursed", code="22000")
        return await super().keep_dead_letters(letters)


async def test_keeper_drops_a_letter_not_even_its_reduced_form_can_keep_and_never_loops(
    transport, store, settings, registry
):
    """A letter refused even reduced is acknowledged and counted dropped, once; the others are kept."""
    cursed = CursedStore(store)
    keeper = DeadLetterKeeper(transport, cursed, settings=settings, registry=registry)
    await keeper.start()
    try:
        letters = [dead_letter_message(b"first"), dead_letter_message(b"cursed"), dead_letter_message(b"last")]
        await transport.publish_batch(letters, timeout=5)
        await eventually(lambda: kept(registry, "dropped") == 1 and kept(registry, "kept") == 2)
        calls = cursed.calls
        await asyncio.sleep(0.2)
        assert cursed.calls == calls  # acknowledged: it does not come back
    finally:
        await keeper.stop(timeout=5)
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    assert sorted(row.body for row in await kept_letters(cursed)) == ["first", "last"]
    assert calls <= 2 * 3 - 1 + 1  # a bisection of three, then the reduced form once
