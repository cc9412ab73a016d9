"""Publishes of one turn written together: each still gets its own confirm, nack or return.

The broker numbers the publishes of a channel in the order it reads them and confirms
by that number; these tests make it answer differently for neighbours in one write and
check that every caller hears its own answer. They run on the fast path (the frame
coalescer) and on the ``basic_publish`` fallback, which must answer alike.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from bloodbank.errors import PublishFailed
from bloodbank.topology import ConsumerSpec
from bloodbank.transport import Delivery, OutgoingMessage, PublishResult, PublishStatus
from bloodbank.transport.rabbitmq import RabbitMQTransport
from tests.bloodbank.waiting import eventually

pytestmark = pytest.mark.rabbitmq

EVENT_TYPE = "retail.offer.surfaced.v1"


def message(routing_key: str = EVENT_TYPE, *, exchange: str | None = None) -> OutgoingMessage:
    message_id = str(uuid.uuid4())
    return OutgoingMessage(b'{"event_id": "%s"}' % message_id.encode(), routing_key, message_id, exchange=exchange)


@pytest.fixture(params=["fast", "basic-publish"])
async def transport(rabbitmq_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RabbitMQTransport]:
    connected = RabbitMQTransport(
        rabbitmq_url, connection_name=request.node.name, call_timeout=5, fast_publish=request.param == "fast"
    )
    await connected.connect(timeout=5)
    await connected.declare_topology()
    yield connected
    await connected.close()


async def publish_singly(transport: RabbitMQTransport, messages: list[OutgoingMessage]) -> list[object]:
    """Every message in a call of its own, all started in the same turn: they share one write."""
    return await asyncio.gather(*(transport.publish_batch([m], timeout=5) for m in messages), return_exceptions=True)


async def declare_capped(rabbitmq_url: str, name: str, *, max_length: int) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(name, arguments={"x-max-length": max_length, "x-overflow": "reject-publish"})


async def test_concurrent_publishes_are_each_confirmed_once_and_kept_in_order(transport: RabbitMQTransport) -> None:
    """Two hundred single publishes of one turn are all confirmed, and the queue holds each once, in order."""
    spec = ConsumerSpec("together", ("retail.#",))
    await transport.declare_consumer(spec)
    sent = [message() for _ in range(200)]
    outcomes = await publish_singly(transport, sent)
    assert outcomes == [[PublishResult(m.message_id, routed=None)] for m in sent]
    received: list[str | None] = []

    async def take(delivery: Delivery) -> None:
        received.append(delivery.message_id)
        await delivery.ack()

    subscription = await transport.consume(spec, take, prefetch=50)
    await eventually(lambda: len(received) == len(sent))
    await subscription.stop(timeout=5)
    assert received == [m.message_id for m in sent]
    assert await transport.queue_depth(spec.name) == 0


async def test_nacks_reach_the_messages_they_are_for(transport: RabbitMQTransport, rabbitmq_url: str) -> None:
    """In one write to a queue that takes two more, the first two are confirmed and the rest refused by name."""
    await declare_capped(rabbitmq_url, "capped.at.two", max_length=2)
    sent = [message("capped.at.two", exchange="") for _ in range(5)]
    outcomes = await publish_singly(transport, sent)
    assert outcomes[:2] == [[PublishResult(m.message_id, routed=None)] for m in sent[:2]]
    for outcome, refused in zip(outcomes[2:], sent[2:], strict=True):
        assert isinstance(outcome, PublishFailed)
        assert outcome.event_id == refused.message_id
        assert "basic.nack" in str(outcome)
    assert await transport.queue_depth("capped.at.two") == 2


async def test_a_returned_message_fails_alone(transport: RabbitMQTransport) -> None:
    """A message no queue takes, between two that land, is the only one reported as returned."""
    spec = ConsumerSpec("beside.returned", ("retail.#",))
    await transport.declare_consumer(spec)
    good_before, nowhere, good_after = message(), message("no.such.queue", exchange=""), message()
    outcomes = await publish_singly(transport, [good_before, nowhere, good_after])
    assert outcomes[0] == [PublishResult(good_before.message_id, routed=None)]
    assert outcomes[2] == [PublishResult(good_after.message_id, routed=None)]
    assert isinstance(outcomes[1], PublishFailed)
    assert outcomes[1].event_id == nowhere.message_id
    assert "returned unroutable" in str(outcomes[1])
    assert await transport.queue_depth(spec.name) == 2


async def test_one_call_answers_confirmed_nacked_and_returned_each(
    transport: RabbitMQTransport, rabbitmq_url: str
) -> None:
    """One publish_each with a message for each answer raises nothing and gives every message its own status."""
    await transport.declare_consumer(ConsumerSpec("mixed.answers", ("retail.#",)))
    await declare_capped(rabbitmq_url, "capped.at.one", max_length=1)
    sent = [
        message(),
        message("capped.at.one", exchange=""),
        message("capped.at.one", exchange=""),
        message("no.such.queue", exchange=""),
        message(),
    ]
    results = await transport.publish_each(sent, timeout=5)
    assert [(r.message_id, r.status) for r in results] == [
        (sent[0].message_id, PublishStatus.CONFIRMED),
        (sent[1].message_id, PublishStatus.CONFIRMED),
        (sent[2].message_id, PublishStatus.NACKED),
        (sent[3].message_id, PublishStatus.RETURNED),
        (sent[4].message_id, PublishStatus.CONFIRMED),
    ]
    assert "basic.nack" in str(results[2].reason)
    assert "NO_ROUTE" in str(results[3].reason)
    assert await transport.queue_depth("mixed.answers") == 2
