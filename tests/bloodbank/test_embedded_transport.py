"""The embedded (SQLite) transport: routing, settlement, durability and limits, as RabbitMQ behaves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import bloodbank
from bloodbank.errors import BloodbankError, BrokerUnavailable, PublishFailed, TopologyMismatch
from bloodbank.topology import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, UNROUTED_QUEUE, ConsumerSpec, Headers
from bloodbank.transport.base import Delivery, OutgoingMessage, PublishStatus, Subscription
from bloodbank.transport.embedded import EmbeddedTransport

WAIT = 5.0  # seconds before a test that waits for a delivery gives up


async def ack(delivery: Delivery) -> None:
    await delivery.ack()


async def release(delivery: Delivery) -> None:
    await delivery.release()


async def keep(_: Delivery) -> None:
    """Leave the delivery unsettled."""


async def hang(_: Delivery) -> None:
    """Never finish."""
    await asyncio.Event().wait()


class Inbox:
    """A handler that keeps every delivery, settles it with ``settle`` and lets a test wait for a count."""

    def __init__(self, settle: Callable[[Delivery], Awaitable[None]] = ack) -> None:
        self.deliveries: list[Delivery] = []
        self.times: list[float] = []
        self._settle = settle
        self._arrived = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.times.append(time.monotonic())
        self._arrived.set()
        await self._settle(delivery)

    async def wait_for(self, count: int) -> list[Delivery]:
        async with asyncio.timeout(WAIT):
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.deliveries


def message(routing_key: str = "fireflies.transcript.ready.v1", number: int = 0, **headers: str) -> OutgoingMessage:
    return OutgoingMessage(f"body {number}".encode(), routing_key, f"event-{number}", headers)


def spec(name: str = "store.events", *bindings: str, max_length: int = 1000, delivery_limit: int = 10) -> ConsumerSpec:
    return ConsumerSpec(
        name, bindings or ("#",), max_length=max_length, delivery_limit=delivery_limit, retry_delays=(0.2,)
    )


@pytest.fixture
async def transport(tmp_path: Path) -> AsyncIterator[EmbeddedTransport]:
    """A connected transport routing among the tests' own queues: without the store's, which takes every message."""
    transport = EmbeddedTransport(tmp_path / "bus.db", shared_consumers=())
    await transport.connect()
    await transport.declare_topology()
    yield transport
    await transport.close()


async def consume(
    transport: EmbeddedTransport, consumer: ConsumerSpec, inbox: Inbox, prefetch: int = 10
) -> Subscription:
    await transport.declare_consumer(consumer)
    return await transport.consume(consumer, inbox, prefetch=prefetch)


async def test_routes_a_copy_to_every_queue_whose_binding_matches(transport: EmbeddedTransport) -> None:
    """A message goes once to each queue with a matching topic pattern, and to no other."""
    await transport.declare_consumer(spec("all.events", "#"))
    await transport.declare_consumer(spec("fireflies.events", "fireflies.*.*.v1", "fireflies.#"))
    await transport.declare_consumer(spec("github.events", "github.#"))

    results = await transport.publish_batch([message("fireflies.transcript.ready.v1")], timeout=5)

    assert [result.routed for result in results] == [True]
    assert await transport.queue_depth("all.events") == 1
    assert await transport.queue_depth("fireflies.events") == 1
    assert await transport.queue_depth("github.events") == 0
    assert await transport.queue_depth(UNROUTED_QUEUE) == 0


async def test_unroutable_message_is_kept_in_unrouted_all(transport: EmbeddedTransport) -> None:
    """A message no binding matches lands in unrouted.all and is reported routed=False."""
    await transport.declare_consumer(spec("github.events", "github.#"))

    results = await transport.publish_batch([message("github.pr.opened.v1", 1), message("n8n.x.y.v1", 2)], timeout=5)

    assert [(result.message_id, result.routed) for result in results] == [("event-1", True), ("event-2", False)]
    inbox = Inbox()
    subscription = await transport.consume_queue(UNROUTED_QUEUE, inbox, prefetch=10)
    [kept] = await inbox.wait_for(1)
    await subscription.stop()
    assert (kept.routing_key, kept.message_id) == ("n8n.x.y.v1", "event-2")


async def test_round_trip_keeps_body_headers_and_message_id_in_order(transport: EmbeddedTransport) -> None:
    """A consumer gets each message oldest first with its body, routing key, message id and headers."""
    inbox = Inbox()
    subscription = await consume(transport, spec(), inbox)

    await transport.publish_batch([message(number=n, trace=f"t{n}") for n in range(3)], timeout=5)

    deliveries = await inbox.wait_for(3)
    await subscription.stop()
    assert [(d.body, d.message_id, dict(d.headers), d.redelivered) for d in deliveries] == [
        (f"body {n}".encode(), f"event-{n}", {"trace": f"t{n}"}, False) for n in range(3)
    ]
    assert await transport.queue_depth("store.events") == 0


async def test_retry_comes_back_after_its_delay_with_merged_headers(transport: EmbeddedTransport) -> None:
    """A retried message is delivered again only after its delay, as a fresh message with the headers added."""

    async def retry_once(delivery: Delivery) -> None:
        if len(inbox.deliveries) == 1:
            await delivery.retry(delay=0.2, headers={Headers.ATTEMPTS: 1})
        else:
            await delivery.ack()

    inbox = Inbox(retry_once)
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message(trace="t")], timeout=5)

    first, again = await inbox.wait_for(2)
    await subscription.stop()
    assert inbox.times[1] - inbox.times[0] >= 0.2
    assert dict(again.headers) == {"trace": "t", Headers.ATTEMPTS: 1}
    assert (again.message_id, again.body, again.redelivered) == (first.message_id, first.body, False)


async def test_retry_with_a_delay_the_consumer_has_no_queue_for_is_refused(transport: EmbeddedTransport) -> None:
    """retry() with a delay outside the consumer's retry delays raises and leaves the delivery unsettled."""
    inbox = Inbox(keep)
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message()], timeout=5)
    [delivery] = await inbox.wait_for(1)

    with pytest.raises(BloodbankError, match=r"'store.events' has no retry queue for 3 s; its delays are 0.2 s"):
        await delivery.retry(delay=3, headers={})
    await delivery.ack()
    await subscription.stop()
    assert await transport.queue_depth("store.events") == 0


async def test_dead_letter_moves_the_message_to_dlq_all(transport: EmbeddedTransport) -> None:
    """dead_letter() puts the message in dlq.all with routing key dlq.{consumer} and the headers added."""

    async def reject(delivery: Delivery) -> None:
        await delivery.dead_letter(headers={Headers.ERROR: "InvalidEvent: no"})

    subscription = await consume(transport, spec(), Inbox(reject))
    await transport.publish_batch([message(trace="t")], timeout=5)
    dead = Inbox()
    dead_letters = await transport.consume_queue(DEAD_LETTER_QUEUE, dead, prefetch=10)

    [letter] = await dead.wait_for(1)
    await subscription.stop()
    await dead_letters.stop()
    assert (letter.routing_key, letter.message_id, letter.body) == ("dlq.store.events", "event-0", b"body 0")
    assert dict(letter.headers) == {"trace": "t", Headers.ERROR: "InvalidEvent: no"}
    assert await transport.queue_depth("store.events") == 0


async def test_delivery_limit_dead_letters_a_message_returned_too_often(transport: EmbeddedTransport) -> None:
    """Past x-delivery-limit returns, the transport dead-letters the message itself, saying why."""
    inbox = Inbox(release)
    subscription = await consume(transport, spec(delivery_limit=1), inbox)
    dead = Inbox()
    dead_letters = await transport.consume_queue(DEAD_LETTER_QUEUE, dead, prefetch=10)

    await transport.publish_batch([message()], timeout=5)

    [letter] = await dead.wait_for(1)
    await subscription.stop()
    await dead_letters.stop()
    assert [delivery.redelivered for delivery in inbox.deliveries] == [False, True]
    assert letter.routing_key == "dlq.store.events"
    assert letter.headers[Headers.ERROR] == "delivery limit exceeded"
    assert letter.headers[Headers.CONSUMER] == "store.events"


async def test_release_redelivers_with_redelivered_set(transport: EmbeddedTransport) -> None:
    """A released message is delivered again, marked redelivered."""

    async def release_first(delivery: Delivery) -> None:
        await (delivery.release() if len(inbox.deliveries) == 1 else delivery.ack())

    inbox = Inbox(release_first)
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message()], timeout=5)

    first, again = await inbox.wait_for(2)
    await subscription.stop()
    assert (first.redelivered, again.redelivered) == (False, True)
    assert again.message_id == first.message_id


async def test_handler_error_releases_the_message(transport: EmbeddedTransport) -> None:
    """When a handler raises, its message is released and delivered again."""

    async def fail_first(delivery: Delivery) -> None:
        if len(inbox.deliveries) == 1:
            raise RuntimeError("boom")
        await delivery.ack()

    inbox = Inbox(fail_first)
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message()], timeout=5)

    _, again = await inbox.wait_for(2)
    await subscription.stop()
    assert again.redelivered


async def test_settling_twice_is_refused(transport: EmbeddedTransport) -> None:
    """A delivery settles exactly once; a second settlement raises and changes nothing."""
    inbox = Inbox()
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message()], timeout=5)
    [delivery] = await inbox.wait_for(1)

    with pytest.raises(BloodbankError, match=r"message event-0 from 'store.events' is already settled \(ack\)"):
        await delivery.release()
    await subscription.stop()
    assert await transport.queue_depth("store.events") == 0


async def test_messages_survive_a_restart(tmp_path: Path) -> None:
    """Published messages are on disk: a new transport on the same file delivers them."""
    first = EmbeddedTransport(tmp_path / "bus.db")
    await first.connect()
    await first.declare_topology()
    await first.declare_consumer(spec())
    await first.publish_batch([message(number=n) for n in range(2)], timeout=5)
    await first.close()

    second = EmbeddedTransport(tmp_path / "bus.db")
    await second.connect()
    inbox = Inbox()
    subscription = await second.consume(spec(), inbox, prefetch=10)
    deliveries = await inbox.wait_for(2)
    await subscription.stop()
    await second.close()
    assert [(d.message_id, d.redelivered) for d in deliveries] == [("event-0", False), ("event-1", False)]


async def test_unsettled_messages_come_back_redelivered_after_close(tmp_path: Path) -> None:
    """Messages a handler never settled are delivered again, redelivered, by the next transport."""
    first = EmbeddedTransport(tmp_path / "bus.db")
    await first.connect()
    await first.declare_topology()
    held = Inbox(keep)
    await consume(first, spec(), held)
    await first.publish_batch([message(number=n) for n in range(2)], timeout=5)
    await held.wait_for(2)
    await first.close()

    second = EmbeddedTransport(tmp_path / "bus.db")
    await second.connect()
    inbox = Inbox()
    subscription = await second.consume(spec(), inbox, prefetch=10)
    deliveries = await inbox.wait_for(2)
    await subscription.stop()
    await second.close()
    assert [(d.message_id, d.redelivered) for d in deliveries] == [("event-0", True), ("event-1", True)]


CRASHING_CONSUMER = """
import asyncio, os, signal, sys
from bloodbank.topology import ConsumerSpec
from bloodbank.transport.base import OutgoingMessage
from bloodbank.transport.embedded import EmbeddedTransport

async def main(path):
    transport = EmbeddedTransport(path)
    await transport.connect()
    await transport.declare_topology()
    spec = ConsumerSpec("crash.events", ["#"])
    await transport.declare_consumer(spec)
    await transport.publish_batch([OutgoingMessage(b"m", "a.b.v1", f"m{n}") for n in range(3)], timeout=5)
    held, all_held = [], asyncio.Event()
    async def hold(delivery):
        held.append(delivery)
        if len(held) == 3:
            all_held.set()
    await transport.consume(spec, hold, prefetch=10)
    await all_held.wait()
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main(sys.argv[1]))
"""


async def test_messages_in_flight_when_the_process_is_killed_come_back_redelivered(tmp_path: Path) -> None:
    """A process killed with messages in flight leaves them ready again, redelivered, and frees the lock."""
    path = tmp_path / "bus.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_CONSUMER,
        str(path),
        cwd=Path(bloodbank.__file__).parents[1],
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(process.wait(), 60) == -signal.SIGKILL

    transport = EmbeddedTransport(path)
    await transport.connect(timeout=1)
    assert await transport.queue_depth("crash.events") == 3
    inbox = Inbox()
    subscription = await transport.consume(ConsumerSpec("crash.events", ["#"]), inbox, prefetch=10)
    deliveries = await inbox.wait_for(3)
    await subscription.stop()
    await transport.close()
    assert [(d.message_id, d.redelivered) for d in deliveries] == [("m0", True), ("m1", True), ("m2", True)]


async def test_a_second_transport_on_an_open_file_is_refused(transport: EmbeddedTransport, tmp_path: Path) -> None:
    """Only one transport owns a database file; another one gets BrokerUnavailable naming the holder."""
    second = EmbeddedTransport(tmp_path / "bus.db")

    with pytest.raises(BrokerUnavailable) as refused:
        await second.connect(timeout=0.1)

    assert str(refused.value) == (
        f"the embedded broker {tmp_path / 'bus.db'} is in use by process {os.getpid()} "
        f"(it holds {tmp_path / 'bus.db.lock'}). The embedded broker serves one process at a time: stop that "
        "process, give this one another database file (BLOODBANK_DATA_DIR) or point BLOODBANK_BROKER_URL at RabbitMQ"
    )
    assert not second.connected
    assert transport.connected


async def test_redeclaring_a_queue_with_other_arguments_raises_topology_mismatch(transport: EmbeddedTransport) -> None:
    """Declaring an existing queue with other limits names the differing arguments and changes nothing."""
    await transport.declare_consumer(spec(max_length=10))
    await transport.declare_consumer(spec(max_length=10))  # the same again: fine

    with pytest.raises(TopologyMismatch) as mismatch:
        await transport.declare_consumer(spec(max_length=20, delivery_limit=3))

    assert str(mismatch.value) == (
        "'store.events' does not match the topology: x-delivery-limit is 10, declared 3; "
        "x-max-length is 10, declared 20. Declare it with `bloodbank topology`, or, when it exists with "
        "other arguments, drain and delete it (or fix the settings) first"
    )
    with pytest.raises(TopologyMismatch):
        await transport.consume(spec(max_length=20), Inbox(), prefetch=1)


async def test_verify_only_reports_what_is_missing_and_declares_nothing(transport: EmbeddedTransport) -> None:
    """With verify_only, a missing queue or binding raises TopologyMismatch and nothing is created."""
    with pytest.raises(TopologyMismatch, match="the queue does not exist"):
        await transport.declare_consumer(spec(), verify_only=True)
    with pytest.raises(BloodbankError, match=r"'store.events' does not exist"):
        await transport.queue_depth("store.events")

    await transport.declare_consumer(spec("store.events", "github.#"))
    with pytest.raises(TopologyMismatch, match=r"bindings \['fireflies.#'\] to 'bloodbank.events.v1' do not exist"):
        await transport.declare_consumer(spec("store.events", "github.#", "fireflies.#"), verify_only=True)
    await transport.declare_consumer(spec("store.events", "github.#"), verify_only=True)
    await transport.declare_topology(verify_only=True)


async def test_a_full_queue_refuses_only_the_messages_beyond_its_limit(transport: EmbeddedTransport) -> None:
    """With x-max-length reached (reject-publish), the message that does not fit is nacked alone, as on RabbitMQ."""
    await transport.declare_consumer(spec(max_length=2))
    await transport.publish_batch([message(number=1)], timeout=5)

    results = await transport.publish_each([message(number=2), message(number=3)], timeout=5)

    assert [(r.message_id, r.status) for r in results] == [
        ("event-2", PublishStatus.CONFIRMED),
        ("event-3", PublishStatus.NACKED),
    ]
    assert results[1].reason == "queue 'store.events' is full (2 messages, x-overflow reject-publish)"
    with pytest.raises(PublishFailed) as refused:
        await transport.publish_batch([message(number=4)], timeout=5)
    assert refused.value.event_id == "event-4"
    assert await transport.queue_depth("store.events") == 2


async def test_stop_waits_for_a_handler_in_progress(transport: EmbeddedTransport) -> None:
    """stop() returns only after the running handler finished and settled its message."""
    gate = asyncio.Event()

    async def slow(delivery: Delivery) -> None:
        await gate.wait()
        await delivery.ack()

    inbox = Inbox(slow)
    subscription = await consume(transport, spec(), inbox)
    await transport.publish_batch([message()], timeout=5)
    await inbox.wait_for(1)

    stopping = asyncio.create_task(subscription.stop(timeout=WAIT))
    await asyncio.sleep(0.05)
    assert not stopping.done()
    gate.set()
    await asyncio.wait_for(stopping, WAIT)
    assert await transport.queue_depth("store.events") == 0


async def test_stop_releases_what_is_unsettled_after_its_timeout(transport: EmbeddedTransport) -> None:
    """A handler still running when stop() times out is cancelled and its message released for redelivery."""
    stuck = Inbox(hang)
    subscription = await consume(transport, spec(), stuck)
    await transport.publish_batch([message()], timeout=5)
    await stuck.wait_for(1)

    await subscription.stop(timeout=0.05)

    assert await transport.queue_depth("store.events") == 1
    inbox = Inbox()
    again = await transport.consume(spec(), inbox, prefetch=1)
    [delivery] = await inbox.wait_for(1)
    await again.stop()
    assert delivery.redelivered


async def test_queue_depth_counts_ready_messages_not_those_in_flight(transport: EmbeddedTransport) -> None:
    """queue_depth counts what waits, not what a consumer holds unsettled."""
    await transport.declare_consumer(spec())
    await transport.publish_batch([message(number=n) for n in range(3)], timeout=5)
    assert await transport.queue_depth("store.events") == 3

    held = Inbox(keep)
    subscription = await transport.consume(spec(), held, prefetch=1)
    await held.wait_for(1)
    assert await transport.queue_depth("store.events") == 2
    await subscription.stop(timeout=0)
    assert await transport.queue_depth("store.events") == 3


async def test_in_memory_brokers_work_and_are_independent() -> None:
    """Each ":memory:" transport is a complete broker of its own, with no file and no lock."""
    transport, other = EmbeddedTransport(":memory:"), EmbeddedTransport(":memory:")
    await transport.connect()
    await other.connect()
    await transport.declare_topology()
    inbox = Inbox()
    subscription = await consume(transport, spec(), inbox)

    await transport.publish_batch([message()], timeout=5)

    [delivery] = await inbox.wait_for(1)
    await subscription.stop()
    with pytest.raises(BloodbankError, match=r"queue 'store.events' does not exist"):
        await other.queue_depth("store.events")
    await transport.close()
    await other.close()
    assert delivery.message_id == "event-0"
    assert not transport.connected


async def test_calls_before_connect_or_after_close_raise_broker_unavailable(tmp_path: Path) -> None:
    """Publishing without a connection raises BrokerUnavailable saying to connect."""
    transport = EmbeddedTransport(tmp_path / "bus.db")
    with pytest.raises(BrokerUnavailable, match=r"is not connected; call connect\(\) first"):
        await transport.publish_batch([message()], timeout=5)
    await transport.connect()
    await transport.close()
    with pytest.raises(BrokerUnavailable, match="is not connected"):
        await transport.queue_depth(DEAD_LETTER_QUEUE)


async def test_dead_letter_queue_deliveries_cannot_be_retried_or_dead_lettered(transport: EmbeddedTransport) -> None:
    """Messages of dlq.all can be acked or released, not retried or dead-lettered again."""
    await transport.publish_batch(
        [OutgoingMessage(b"x", "dlq.store.events", "e", exchange=DEAD_LETTER_EXCHANGE)], timeout=5
    )
    inbox = Inbox(keep)
    subscription = await transport.consume_queue(DEAD_LETTER_QUEUE, inbox, prefetch=10)
    [letter] = await inbox.wait_for(1)

    with pytest.raises(BloodbankError, match=r"messages of 'dlq.all' cannot be retried; ack or release them"):
        await letter.retry(delay=1, headers={})
    with pytest.raises(BloodbankError, match=r"messages of 'dlq.all' cannot be dead-lettered"):
        await letter.dead_letter(headers={})
    await letter.ack()
    await subscription.stop()
    assert await transport.queue_depth(DEAD_LETTER_QUEUE) == 0


async def test_default_exchange_routes_to_the_named_queue(transport: EmbeddedTransport) -> None:
    """Exchange "" delivers to the queue named by the routing key, and refuses a queue that does not exist."""
    await transport.declare_consumer(spec("store.events", "github.#"))

    [result] = await transport.publish_batch([OutgoingMessage(b"x", "store.events", "e", exchange="")], timeout=5)

    assert result.routed
    assert await transport.queue_depth("store.events") == 1
    with pytest.raises(PublishFailed, match=r"no queue is named 'nowhere' \(default exchange\)"):
        await transport.publish_batch([OutgoingMessage(b"x", "nowhere", "e", exchange="")], timeout=5)


async def test_tail_gets_copies_of_matching_messages_and_takes_no_part_in_routing(
    transport: EmbeddedTransport,
) -> None:
    """A tail sees new messages that match its patterns, while they still count as unrouted."""
    inbox = Inbox()
    tail = await transport.tail(["fireflies.#"], inbox)

    results = await transport.publish_batch([message("github.pr.opened.v1", 1), message(number=2)], timeout=5)

    [copy] = await inbox.wait_for(1)
    await tail.stop()
    assert [result.routed for result in results] == [False, False]
    assert (copy.routing_key, copy.message_id, copy.redelivered) == ("fireflies.transcript.ready.v1", "event-2", False)
    assert await transport.queue_depth(UNROUTED_QUEUE) == 2
