"""Coalesced acknowledgements: few frames, and never one that covers a delivery still in its handler.

The frame decisions are checked against a model of the broker's rules (a tag is settled
once; ``multiple`` settles every outstanding tag up to it) over random orders of
settlement; the guarantee that matters is then checked on the real broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import aiormq.abc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bloodbank.topology import ConsumerSpec
from bloodbank.transport import Delivery, OutgoingMessage
from bloodbank.transport.rabbitmq import RabbitMQTransport
from bloodbank.transport.rabbitmq.acks import ChannelAcks
from tests.bloodbank.waiting import eventually

EVENT_TYPE = "retail.offer.surfaced.v1"


class RecordingChannel:
    """Stands in for aiormq's channel: records the settlement frames in the order they are written."""

    def __init__(self, *, nack_turns: int = 0) -> None:
        self.frames: list[tuple[str, int, bool]] = []
        self.waited: list[bool] = []  # whether a frame waited for the socket (one-way frames need not)
        self.nack_turns = nack_turns  # turns a nack waits to be queued, as behind a full write queue

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.frames.append(("ack", delivery_tag, multiple))
        self.waited.append(wait)

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> None:
        for _ in range(self.nack_turns):
            await asyncio.sleep(0)
        self.frames.append(("nack" if requeue else "reject", delivery_tag, multiple))
        self.waited.append(wait)


def broker_settles(frames: list[tuple[str, int, bool]], delivered: int) -> dict[int, str]:
    """What the broker makes of the frames: each tag acked or nacked; a frame for an unknown tag is an error."""
    outstanding = set(range(1, delivered + 1))
    settled: dict[int, str] = {}
    for kind, tag, multiple in frames:
        assert tag in outstanding, f"{kind} of tag {tag}, which the broker no longer holds: PRECONDITION_FAILED"
        covered = [t for t in outstanding if t <= tag] if multiple else [tag]
        for t in covered:
            outstanding.discard(t)
            settled[t] = kind
    return settled


def acks_on(channel: RecordingChannel) -> ChannelAcks:
    return ChannelAcks(cast("aiormq.abc.AbstractChannel", channel), queue="q")


async def test_handled_in_order_is_one_frame() -> None:
    """Deliveries handled in the order they came are acknowledged with one `multiple` frame."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    for tag in range(1, 101):
        acks.delivered(tag)
    for tag in range(1, 101):
        acks.ack(tag)
    await acks.flush()
    assert channel.frames == [("ack", 100, True)]
    assert channel.waited == [False]


async def test_a_slow_handler_holds_back_nothing_and_is_never_covered() -> None:
    """Behind a delivery still in its handler, the others are acknowledged one by one; it is acked only when done."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    for tag in (1, 2, 3):
        acks.delivered(tag)
    acks.ack(2)
    acks.ack(3)
    await acks.flush()
    assert channel.frames == [("ack", 2, False), ("ack", 3, False)]
    acks.ack(1)
    await acks.flush()
    assert channel.frames[-1] == ("ack", 1, True)
    assert broker_settles(channel.frames, 3) == {1: "ack", 2: "ack", 3: "ack"}


async def test_a_released_delivery_is_nacked_at_once_and_passed_over() -> None:
    """A nack goes out immediately; the `multiple` ack after it does not name it again."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    for tag in (1, 2, 3):
        acks.delivered(tag)
    acks.ack(1)
    await acks.nack(2, requeue=True)
    acks.ack(3)
    await acks.flush()
    assert channel.frames == [("nack", 2, False), ("ack", 3, True)]
    assert broker_settles(channel.frames, 3) == {1: "ack", 2: "nack", 3: "ack"}


async def test_a_nack_waiting_to_be_queued_is_never_passed_over() -> None:
    """While a nack waits behind a full write queue, a later ack of a newer tag does not cover it."""
    channel = RecordingChannel(nack_turns=3)
    acks = acks_on(channel)
    acks.delivered(1)
    acks.delivered(2)
    acks.ack(2)
    await acks.nack(1, requeue=True)
    await acks.flush()
    assert broker_settles(channel.frames, 2) == {1: "nack", 2: "ack"}


async def test_acks_are_sent_within_the_turn_without_flush() -> None:
    """Marked acknowledgements leave on the next turn of the event loop, flush or not."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    acks.delivered(1)
    acks.ack(1)
    for _ in range(3):
        await asyncio.sleep(0)
    assert channel.frames == [("ack", 1, True)]


async def test_a_missing_tag_turns_to_single_frames() -> None:
    """A tag that never arrived is never covered: after a gap, every acknowledgement is its own frame."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    acks.delivered(1)
    acks.delivered(3)  # 2 reached no handler
    acks.ack(3)
    acks.ack(1)
    await acks.flush()
    assert sorted(channel.frames) == [("ack", 1, False), ("ack", 3, False)]


async def test_single_frames_after_a_lost_consumer() -> None:
    """Once tags may have gaps, every acknowledgement is its own frame, and nothing marked before is lost."""
    channel = RecordingChannel()
    acks = acks_on(channel)
    acks.delivered(1)
    acks.delivered(2)
    acks.ack(2)
    acks.single_frames()
    acks.ack(7)  # a delivery to the new consumer on the same channel
    acks.ack(1)
    await acks.flush()
    assert sorted(channel.frames) == [("ack", 1, False), ("ack", 2, False), ("ack", 7, False)]


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["ack", "nack", "hold"]), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
    turns=st.lists(st.booleans(), min_size=60, max_size=60),
    nack_turns=st.sampled_from([0, 3]),
)
def test_any_order_of_settlement_settles_exactly_what_was_settled(
    outcomes: list[str], order: Any, turns: list[bool], nack_turns: int
) -> None:
    """Whatever the order and however the turns fall, the broker settles each handled tag once and no held one."""
    asyncio.run(_settle_in_order(outcomes, order, turns, nack_turns))


async def _settle_in_order(outcomes: list[str], order: Any, turns: list[bool], nack_turns: int) -> None:
    channel = RecordingChannel(nack_turns=nack_turns)
    acks = acks_on(channel)
    tags = list(range(1, len(outcomes) + 1))
    for tag in tags:
        acks.delivered(tag)
    settling = [tag for tag in tags if outcomes[tag - 1] != "hold"]
    order.shuffle(settling)
    for step, tag in enumerate(settling):
        if outcomes[tag - 1] == "ack":
            acks.ack(tag)
        else:
            await acks.nack(tag, requeue=True)
        if turns[step % len(turns)]:
            await asyncio.sleep(0)  # a turn of the loop: a flush may run here
    await acks.flush()
    settled = broker_settles(channel.frames, len(outcomes))
    assert settled == {tag: outcomes[tag - 1] for tag in settling}


# --- on the broker -------------------------------------------------------------------------


@pytest.fixture
async def transport(rabbitmq_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RabbitMQTransport]:
    connected = RabbitMQTransport(rabbitmq_url, connection_name=request.node.name, call_timeout=5)
    await connected.connect(timeout=5)
    await connected.declare_topology()
    yield connected
    await connected.close()


def message() -> OutgoingMessage:
    message_id = str(uuid.uuid4())
    return OutgoingMessage(b'{"event_id": "%s"}' % message_id.encode(), EVENT_TYPE, message_id)


@pytest.mark.rabbitmq
async def test_first_delivery_left_unsettled_comes_back_alone(transport: RabbitMQTransport, rabbitmq_url: str) -> None:
    """The others' acknowledgements never cover the first delivery, left unsettled: it alone is delivered again."""
    spec = ConsumerSpec("held.first", ("retail.#",))
    await transport.declare_consumer(spec)
    sent = [message() for _ in range(20)]
    await transport.publish_batch(sent, timeout=5)
    seen: list[str | None] = []

    async def hold_the_first(delivery: Delivery) -> None:
        seen.append(delivery.message_id)
        if delivery.message_id != sent[0].message_id:
            await delivery.ack()

    subscription = await transport.consume(spec, hold_the_first, prefetch=20)
    await eventually(lambda: len(seen) == len(sent))
    await subscription.stop(timeout=5)  # acknowledgements flushed, then the channel closes: the held one returns

    async def only_the_held_one_is_back() -> bool:  # the quorum queue takes it back a moment after the close
        return await transport.queue_depth(spec.name) == 1

    await eventually(only_the_held_one_is_back)

    again = RabbitMQTransport(rabbitmq_url, connection_name="held.first.again", call_timeout=5)
    await again.connect(timeout=5)
    redelivered: list[Delivery] = []

    async def take(delivery: Delivery) -> None:
        redelivered.append(delivery)
        await delivery.ack()

    try:
        second = await again.consume(spec, take, prefetch=5)
        await eventually(lambda: len(redelivered) == 1)
        await second.stop(timeout=5)
        assert [d.message_id for d in redelivered] == [sent[0].message_id]
        assert redelivered[0].redelivered
        assert await again.queue_depth(spec.name) == 0
    finally:
        await again.close()


@pytest.mark.rabbitmq
async def test_many_deliveries_settled_out_of_order_leave_nothing_behind(transport: RabbitMQTransport) -> None:
    """Handlers finishing in any order, some releasing once: every message is acknowledged exactly once at the end."""
    spec = ConsumerSpec("shuffled", ("retail.#",))
    await transport.declare_consumer(spec)
    sent = [message() for _ in range(300)]
    await transport.publish_batch(sent, timeout=10)
    acked: list[str | None] = []
    released: set[str | None] = set()

    async def settle(delivery: Delivery) -> None:
        await asyncio.sleep((hash(delivery.message_id) % 7) / 1000)  # finish out of order
        if hash(delivery.message_id) % 5 == 0 and delivery.message_id not in released:
            released.add(delivery.message_id)
            await delivery.release()
            return
        await delivery.ack()
        acked.append(delivery.message_id)

    subscription = await transport.consume(spec, settle, prefetch=50)
    await eventually(lambda: len(acked) == len(sent), timeout=30)
    await subscription.stop(timeout=5)
    assert sorted(acked, key=str) == sorted((m.message_id for m in sent), key=str)
    assert await transport.queue_depth(spec.name) == 0
