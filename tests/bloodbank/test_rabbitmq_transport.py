"""The RabbitMQ transport against the local broker: topology, confirms, settlement and recovery.

Each test runs in a virtual host of its own (the ``rabbitmq_url`` fixture). What the
transport claims is checked with an independent aio-pika client where it matters
(persistence, queue arguments, a queue's removal).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping

import aio_pika
import aiormq.exceptions
import pytest

from bloodbank.errors import BloodbankError, BrokerUnavailable, PublishFailed, TopologyMismatch
from bloodbank.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    RETRY_DELAYS,
    UNROUTED_QUEUE,
    ConsumerSpec,
    Headers,
)
from bloodbank.transport import Delivery, OutgoingMessage, PublishResult
from bloodbank.transport.base import HeaderValue
from bloodbank.transport.rabbitmq import RabbitMQTransport
from tests.bloodbank.waiting import eventually
from tests.conftest import unavailable

pytestmark = pytest.mark.rabbitmq

EVENT_TYPE = "retail.offer.surfaced.v1"


def message(routing_key: str = EVENT_TYPE, *, headers: Mapping[str, HeaderValue] | None = None) -> OutgoingMessage:
    message_id = str(uuid.uuid4())
    return OutgoingMessage(b'{"event_id": "%s"}' % message_id.encode(), routing_key, message_id, headers or {})


async def depth_is(transport: RabbitMQTransport, queue: str, expected: int) -> bool:
    return await transport.queue_depth(queue) == expected


@pytest.fixture
async def transport(rabbitmq_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RabbitMQTransport]:
    """A connected transport with the shared topology declared, without the store's queue (it takes every message)."""
    connected = RabbitMQTransport(rabbitmq_url, connection_name=request.node.name, call_timeout=5, shared_consumers=())
    await connected.connect(timeout=5)
    await connected.declare_topology()
    yield connected
    await connected.close()


@pytest.fixture
async def raw(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain aio-pika channel to the same virtual host, to check what the transport did."""
    connection = await aio_pika.connect(rabbitmq_url, timeout=5)
    channel = await connection.channel()
    yield channel
    await connection.close()


async def consumer(
    transport: RabbitMQTransport, name: str, *, retry_delays: tuple[float, ...] = RETRY_DELAYS
) -> ConsumerSpec:
    spec = ConsumerSpec(name, ("retail.#",), retry_delays=retry_delays)
    await transport.declare_consumer(spec)
    return spec


# --- topology ------------------------------------------------------------------------------


async def test_declaring_the_topology_twice_is_idempotent(transport: RabbitMQTransport) -> None:
    """Declaring the shared topology and a consumer's queues again changes nothing and raises nothing."""
    spec = await consumer(transport, "twice")
    await transport.declare_topology()
    await transport.declare_consumer(spec)
    await transport.declare_topology(verify_only=True)
    await transport.declare_consumer(spec, verify_only=True)
    assert [await transport.queue_depth(q) for q in (UNROUTED_QUEUE, DEAD_LETTER_QUEUE, "twice", "twice.retry.1s")] == [
        0,
        0,
        0,
        0,
    ]


async def test_verify_only_passes_after_declaring_and_fails_on_an_empty_vhost(rabbitmq_url: str) -> None:
    """Verifying an empty virtual host raises TopologyMismatch; after declaring, verifying passes."""
    transport = RabbitMQTransport(rabbitmq_url, connection_name="verify")
    await transport.connect()
    try:
        with pytest.raises(TopologyMismatch, match=r"bloodbank\.events\.unrouted.*does not exist.*NOT_FOUND"):
            await transport.declare_topology(verify_only=True)
        with pytest.raises(TopologyMismatch, match=r"'verify\.me'"):
            await transport.declare_consumer(ConsumerSpec("verify.me", ("#",)), verify_only=True)
        await transport.declare_topology()
        await transport.declare_topology(verify_only=True)
    finally:
        await transport.close()


async def test_classic_dead_letter_queue_is_a_mismatch_naming_it(
    rabbitmq_url: str, raw: aio_pika.abc.AbstractChannel
) -> None:
    """A `dlq.all` declared as a classic queue makes declaring fail with the broker's reason; the transport lives on."""
    await raw.declare_queue(DEAD_LETTER_QUEUE, durable=True)
    transport = RabbitMQTransport(rabbitmq_url, connection_name="classic-dlq")
    await transport.connect()
    try:
        with pytest.raises(TopologyMismatch) as caught:
            await transport.declare_topology()
        assert caught.value.name == DEAD_LETTER_QUEUE
        assert str(caught.value).startswith(
            "'dlq.all' does not match the topology: PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue "
            "'dlq.all'"
        )
        assert await transport.queue_depth(UNROUTED_QUEUE) == 0
        await transport.publish_batch([message("nobody.listens.v1")], timeout=5)
        await eventually(lambda: depth_is(transport, UNROUTED_QUEUE, 1))
    finally:
        await transport.close()


async def test_consumer_queue_with_other_limits_is_a_mismatch(transport: RabbitMQTransport) -> None:
    """Re-declaring a consumer queue with another length limit raises TopologyMismatch quoting the argument."""
    await transport.declare_consumer(ConsumerSpec("limits", ("#",), max_length=10))
    with pytest.raises(TopologyMismatch, match=r"'limits'.*x-max-length"):
        await transport.declare_consumer(ConsumerSpec("limits", ("#",), max_length=20))


# --- publishing ----------------------------------------------------------------------------


async def test_confirmed_publish_is_persistent_and_delivers_body_headers_and_id(
    transport: RabbitMQTransport, raw: aio_pika.abc.AbstractChannel
) -> None:
    """A confirmed message is persistent JSON in the queue and reaches the consumer with its body, headers and id."""
    await consumer(transport, "delivered")
    sent = message(headers={"x-test": "yes", "x-count": 3})
    assert await transport.publish_batch([sent], timeout=5) == [PublishResult(sent.message_id, routed=None)]

    stored = await (await raw.get_queue("delivered")).get(timeout=5)
    assert stored is not None
    assert stored.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert stored.content_type == "application/json"
    await stored.reject(requeue=True)

    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)
        await delivery.ack()

    subscription = await transport.consume_queue("delivered", keep, prefetch=10)
    await eventually(lambda: len(received) == 1)
    await subscription.stop(timeout=5)
    [delivery] = received
    assert (delivery.body, delivery.message_id, delivery.routing_key) == (sent.body, sent.message_id, EVENT_TYPE)
    assert delivery.headers["x-test"] == "yes"
    assert delivery.headers["x-count"] == 3
    assert await transport.queue_depth("delivered") == 0


async def test_unroutable_publishes_are_publish_failed_and_the_channel_recovers(transport: RabbitMQTransport) -> None:
    """A message returned by the broker, or sent to a missing exchange, raises PublishFailed; publishing goes on."""
    to_missing_queue = OutgoingMessage(b"{}", "no.such.queue", "returned-1", exchange="")
    with pytest.raises(PublishFailed, match=r"returned-1.*NO_ROUTE"):
        await transport.publish_batch([to_missing_queue], timeout=5)
    to_missing_exchange = OutgoingMessage(b"{}", EVENT_TYPE, "lost-1", exchange="no.such.exchange")
    with pytest.raises(PublishFailed, match=r"lost-1.*no exchange 'no\.such\.exchange'"):
        await transport.publish_batch([to_missing_exchange], timeout=5)
    await transport.publish_batch([message("nobody.listens.v1")], timeout=5)
    assert await transport.queue_depth(UNROUTED_QUEUE) == 1


async def test_unbound_routing_key_is_kept_and_the_watcher_told(transport: RabbitMQTransport) -> None:
    """An event no binding matches lands in unrouted.all and watch_unrouted hears its id and routing key."""
    told: list[tuple[str, str]] = []

    async def on_unrouted(message_id: str, routing_key: str) -> None:
        told.append((message_id, routing_key))

    watch = await transport.watch_unrouted(on_unrouted)
    await consumer(transport, "retail.only")
    unbound, bound = message("fireflies.transcript.ready.v1"), message()
    results = await transport.publish_batch([unbound, bound], timeout=5)
    assert [r.routed for r in results] == [None, None]
    await eventually(lambda: told == [(unbound.message_id, "fireflies.transcript.ready.v1")])
    await watch.stop(timeout=5)
    assert await transport.queue_depth(UNROUTED_QUEUE) == 1
    assert await transport.queue_depth("retail.only") == 1


async def test_publish_on_a_closed_transport_is_broker_unavailable(transport: RabbitMQTransport) -> None:
    """Publishing after close raises BrokerUnavailable, saying to connect."""
    await transport.close()
    assert not transport.connected
    with pytest.raises(BrokerUnavailable, match=r"call connect\(\) first"):
        await transport.publish_batch([message()], timeout=1)


async def test_wrong_credentials_are_broker_unavailable(rabbitmq_url: str) -> None:
    """A broker that refuses the login is reported as unavailable, with the password hidden."""
    transport = RabbitMQTransport(rabbitmq_url.replace("guest:guest@", "guest:wrong@"))
    with pytest.raises(BrokerUnavailable, match=r"cannot connect to RabbitMQ at amqp://guest:\*\*\*@") as caught:
        await transport.connect(timeout=5)
    assert "wrong" not in str(caught.value)
    assert not transport.connected


# --- settling ------------------------------------------------------------------------------


async def test_retry_goes_through_the_retry_queue_and_comes_back_with_the_headers(transport: RabbitMQTransport) -> None:
    """retry() moves a copy into the retry queue, acks the original, and the copy returns after the TTL."""
    spec = await consumer(transport, "retried", retry_delays=(1.0,))
    received: list[tuple[float, Delivery]] = []
    moved = asyncio.Event()

    async def fail_once(delivery: Delivery) -> None:
        received.append((asyncio.get_running_loop().time(), delivery))
        if len(received) == 1:
            await delivery.retry(delay=1.0, headers={Headers.ATTEMPTS: 1, Headers.ERROR: "RuntimeError: busy"})
            moved.set()
        else:
            await delivery.ack()

    subscription = await transport.consume(spec, fail_once, prefetch=5)
    sent = message(headers={"x-original": "kept"})
    await transport.publish_batch([sent], timeout=5)
    await asyncio.wait_for(moved.wait(), 5)
    assert await transport.queue_depth("retried.retry.1s") == 1
    assert await transport.queue_depth("retried") == 0
    await eventually(lambda: len(received) == 2)
    await subscription.stop(timeout=5)

    (first_at, _), (again_at, again) = received
    assert again_at - first_at >= 0.9
    assert (again.message_id, again.body) == (sent.message_id, sent.body)
    assert again.headers["x-original"] == "kept"
    assert again.headers[Headers.ATTEMPTS] == 1
    assert again.headers[Headers.ERROR] == "RuntimeError: busy"
    assert await transport.queue_depth("retried.retry.1s") == 0


async def test_retry_with_an_undeclared_delay_is_refused(transport: RabbitMQTransport) -> None:
    """A retry delay the consumer has no queue for raises ValueError and leaves the message to settle."""
    spec = await consumer(transport, "odd.delay", retry_delays=(1.0,))
    outcomes: list[str] = []

    async def retry_oddly(delivery: Delivery) -> None:
        with pytest.raises(ValueError, match=r"no retry queue for 3 s; its delays: 1 s"):
            await delivery.retry(delay=3.0, headers={})
        await delivery.ack()
        outcomes.append("acked")

    subscription = await transport.consume(spec, retry_oddly, prefetch=1)
    await transport.publish_batch([message()], timeout=5)
    await eventually(lambda: outcomes == ["acked"])
    await subscription.stop(timeout=5)


async def test_dead_letter_lands_in_dlq_all_with_the_headers(transport: RabbitMQTransport) -> None:
    """dead_letter() puts a copy with the given headers into dlq.all under `dlq.{consumer}` and acks the original."""
    spec = await consumer(transport, "doomed")

    async def refuse(delivery: Delivery) -> None:
        await delivery.dead_letter(headers={Headers.ERROR: "ValueError: no", Headers.CONSUMER: "doomed"})

    subscription = await transport.consume(spec, refuse, prefetch=5)
    sent = message(headers={"x-original": "kept"})
    await transport.publish_batch([sent], timeout=5)
    await eventually(lambda: depth_is(transport, DEAD_LETTER_QUEUE, 1))
    await subscription.stop(timeout=5)
    assert await transport.queue_depth("doomed") == 0

    dead: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        dead.append(delivery)
        with pytest.raises(BloodbankError, match=r"retry is not available for messages from 'dlq\.all'"):
            await delivery.retry(delay=1.0, headers={})
        await delivery.ack()

    reader = await transport.consume_queue(DEAD_LETTER_QUEUE, keep, prefetch=5)
    await eventually(lambda: len(dead) == 1)
    await reader.stop(timeout=5)
    [letter] = dead
    assert (letter.message_id, letter.body, letter.routing_key) == (sent.message_id, sent.body, "dlq.doomed")
    assert letter.headers[Headers.ERROR] == "ValueError: no"
    assert letter.headers[Headers.CONSUMER] == "doomed"
    assert letter.headers["x-original"] == "kept"


async def test_released_message_is_redelivered(transport: RabbitMQTransport) -> None:
    """release() gives the message back, and it comes again marked redelivered."""
    spec = await consumer(transport, "released")
    seen: list[Delivery] = []

    async def release_once(delivery: Delivery) -> None:
        seen.append(delivery)
        await (delivery.release() if len(seen) == 1 else delivery.ack())

    subscription = await transport.consume(spec, release_once, prefetch=1)
    await transport.publish_batch([message()], timeout=5)
    await eventually(lambda: len(seen) == 2)
    await subscription.stop(timeout=5)
    assert [d.redelivered for d in seen] == [False, True]
    assert seen[0].message_id == seen[1].message_id


async def test_settling_twice_is_refused(transport: RabbitMQTransport) -> None:
    """A second settlement of one delivery raises instead of breaking the channel."""
    spec = await consumer(transport, "twice.settled")
    errors: list[str] = []

    async def ack_twice(delivery: Delivery) -> None:
        await delivery.ack()
        with pytest.raises(BloodbankError, match=r"already settled \(ack\); cannot release") as caught:
            await delivery.release()
        errors.append(str(caught.value))

    subscription = await transport.consume(spec, ack_twice, prefetch=1)
    await transport.publish_batch([message(), message()], timeout=5)
    await eventually(lambda: len(errors) == 2)
    await subscription.stop(timeout=5)
    assert await transport.queue_depth("twice.settled") == 0


async def test_handler_exception_releases_the_message_and_consuming_goes_on(transport: RabbitMQTransport) -> None:
    """A handler that raises does not stop the consumer; its unsettled message is released and delivered again."""
    spec = await consumer(transport, "crashy")
    calls: list[bool] = []

    async def crash_first(delivery: Delivery) -> None:
        calls.append(delivery.redelivered)
        if len(calls) == 1:
            raise RuntimeError("boom")
        await delivery.ack()

    subscription = await transport.consume(spec, crash_first, prefetch=1)
    await transport.publish_batch([message()], timeout=5)
    await eventually(lambda: len(calls) == 2)
    await transport.publish_batch([message()], timeout=5)
    await eventually(lambda: len(calls) == 3)
    await subscription.stop(timeout=5)
    assert calls == [False, True, False]


# --- stopping and recovering ---------------------------------------------------------------


async def test_stop_waits_for_the_handler_in_progress(transport: RabbitMQTransport) -> None:
    """stop() returns only after the running handler finished, and its ack went through."""
    spec = await consumer(transport, "graceful")
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str | None] = []

    async def slow(delivery: Delivery) -> None:
        started.set()
        await release.wait()
        await delivery.ack()
        finished.append(delivery.message_id)

    subscription = await transport.consume(spec, slow, prefetch=5)
    sent = message()
    await transport.publish_batch([sent], timeout=5)
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(subscription.stop(timeout=10))
    await asyncio.sleep(0.2)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == [sent.message_id]
    assert await transport.queue_depth("graceful") == 0
    assert not transport._subscriptions


async def test_unsettled_delivery_comes_back_on_a_new_transport(
    transport: RabbitMQTransport, rabbitmq_url: str
) -> None:
    """A message delivered but never settled when its transport closes is delivered again to the next one."""
    spec = await consumer(transport, "restarted")
    taken: list[Delivery] = []

    async def hold(delivery: Delivery) -> None:
        taken.append(delivery)  # never settled, like a process killed mid-handler

    await transport.consume(spec, hold, prefetch=1)
    sent = message()
    await transport.publish_batch([sent], timeout=5)
    await eventually(lambda: len(taken) == 1)
    await transport.close()

    again = RabbitMQTransport(rabbitmq_url, connection_name="restarted-again")
    await again.connect()
    redelivered: list[Delivery] = []

    async def take(delivery: Delivery) -> None:
        redelivered.append(delivery)
        await delivery.ack()

    subscription = await again.consume(spec, take, prefetch=1)
    try:
        await eventually(lambda: len(redelivered) == 1)
        assert redelivered[0].message_id == sent.message_id
        assert redelivered[0].redelivered
    finally:
        await subscription.stop(timeout=5)
        await again.close()


async def test_tail_sees_matching_copies_and_removes_its_queue_on_stop(
    transport: RabbitMQTransport, raw: aio_pika.abc.AbstractChannel
) -> None:
    """tail() gets copies of matching events only, acknowledges them, and its queue is gone after stop."""
    await consumer(transport, "tailed.consumer")
    seen: list[str] = []

    async def watch(delivery: Delivery) -> None:
        seen.append(delivery.routing_key)

    tail = await transport.tail(["retail.*.*.v1"], watch)
    await transport.publish_batch([message("fireflies.transcript.ready.v1"), message()], timeout=5)
    await eventually(lambda: seen == [EVENT_TYPE])
    [running] = transport._subscriptions
    queue_name = running.queue.name
    assert queue_name.startswith("amq.gen-")
    assert await transport.queue_depth(queue_name) == 0
    await tail.stop(timeout=5)
    assert await transport.queue_depth("tailed.consumer") == 1  # the copy took nothing from the consumer
    with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
        await raw.declare_queue(queue_name, passive=True)


async def test_lost_consumer_is_restored_after_a_reconnect(transport: RabbitMQTransport) -> None:
    """When the broker shows no consumer after a reconnect, the transport consumes again (exactly once)."""
    spec = await consumer(transport, "lost.consumer")
    seen: list[str | None] = []

    async def take(delivery: Delivery) -> None:
        seen.append(delivery.message_id)
        await delivery.ack()

    await transport.consume(spec, take, prefetch=5)
    [running] = transport._subscriptions
    assert running._consuming_on is not None
    assert running._consumer_tag is not None
    await running._consuming_on.basic_cancel(running._consumer_tag)  # the broker forgets it, the subscription does not
    transport._on_reconnect(None)
    await eventually(lambda: count_consumers(raw_transport=transport, queue="lost.consumer", expected=1))
    sent = message()
    await transport.publish_batch([sent], timeout=5)
    await eventually(lambda: seen == [sent.message_id])
    transport._on_reconnect(None)  # a second check finds the consumer and adds none
    await asyncio.sleep(0.2)
    assert await count_consumers(raw_transport=transport, queue="lost.consumer", expected=1)


async def count_consumers(*, raw_transport: RabbitMQTransport, queue: str, expected: int) -> bool:
    async with raw_transport._admin_channel("counting") as channel:
        declared = await channel.declare_queue(queue, passive=True)
    return declared.declaration_result.consumer_count == expected


def close_connections_of(vhost: str) -> int:
    """Make the broker close every connection of ``vhost``, as a broker restart does; returns how many."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        unavailable("rabbitmqctl is needed to close connections from the broker side")
    listed = subprocess.run(
        [tool, "-q", "list_connections", "pid", "vhost"], capture_output=True, text=True, timeout=30, check=True
    )
    pids = [line.split("\t")[0] for line in listed.stdout.splitlines() if line.endswith(f"\t{vhost}")]
    for pid in pids:
        subprocess.run([tool, "-q", "close_connection", pid, "test restart"], timeout=30, check=True)
    return len(pids)


async def test_consumers_and_the_unrouted_watch_survive_a_dropped_connection(rabbitmq_url: str) -> None:
    """After the broker drops the connection, consuming, publishing and watch_unrouted work again."""
    transport = RabbitMQTransport(
        f"{rabbitmq_url}?reconnect_interval=0.1", connection_name="dropped", call_timeout=5, shared_consumers=()
    )
    await transport.connect()
    try:
        await transport.declare_topology()
        spec = await consumer(transport, "survivor")
        seen: list[str | None] = []
        told: list[str] = []

        async def take(delivery: Delivery) -> None:
            seen.append(delivery.message_id)
            await delivery.ack()

        await transport.consume(spec, take, prefetch=5)
        await transport.watch_unrouted(lambda message_id, _key: told.append(message_id))
        reconnected = asyncio.Event()
        assert transport._connection is not None
        transport._connection.reconnect_callbacks.add(lambda _connection: reconnected.set())
        assert await asyncio.to_thread(close_connections_of, rabbitmq_url.rsplit("/", 1)[1]) == 1
        await asyncio.wait_for(reconnected.wait(), 10)

        sent, unbound = message(), message("nobody.listens.v1")
        await eventually(lambda: count_consumers(raw_transport=transport, queue="survivor", expected=1))
        await transport.publish_batch([sent, unbound], timeout=5)
        await eventually(lambda: seen == [sent.message_id] and told == [unbound.message_id])
    finally:
        await transport.close()


async def test_message_can_name_another_exchange(transport: RabbitMQTransport) -> None:
    """A message may name another exchange (a replay to the dead-letter exchange here) and lands there."""
    await transport.publish_batch(
        [OutgoingMessage(b"{}", "dlq.replayed", "replay-1", exchange=DEAD_LETTER_EXCHANGE)], timeout=5
    )
    await eventually(lambda: depth_is(transport, DEAD_LETTER_QUEUE, 1))
