"""One conformance suite for every transport: the embedded SQLite broker and RabbitMQ behave the same.

Retry delays are shortened here (0.2/0.4/0.8 s) to keep the suite fast; the fault
tests run the real 1/2/4 s schedule.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from bloodbank import Bus, ConsumerSpec, Event, PermanentFailure, current_event_id, subscribe
from bloodbank.errors import BloodbankError, TopologyMismatch
from bloodbank.topology import DEAD_LETTER_QUEUE, STORE_QUEUE, UNROUTED_QUEUE, Headers
from bloodbank.transport import Delivery, OutgoingMessage, Subscription
from holyfields import InvalidEvent, default_catalog
from tests.bloodbank.conftest import TransportFactory
from tests.bloodbank.waiting import eventually

FAST_RETRIES = (0.2, 0.4, 0.8)
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SNAPSHOT = default_catalog().get("retail.inventory.snapshot.v1").examples[0]  # type: ignore[union-attr]
SEGMENT = default_catalog().get("fireflies.transcript.segment.v1").examples[0]  # type: ignore[union-attr]


async def drain(bus: Bus, queue: str, *, expect: int, timeout: float = 10.0) -> list[Delivery]:
    """Take ``expect`` messages out of ``queue`` (acknowledging them)."""
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)
        await delivery.ack()

    subscription = await bus.transport.consume_queue(queue, keep, prefetch=50)
    try:
        await eventually(lambda: len(received) >= expect, timeout=timeout)
    finally:
        await subscription.stop(timeout=5)
    return received


async def fast_subscribe(
    bus: Bus, name: str, bindings: tuple[str, ...], handler: Callable[[Event], Awaitable[None]]
) -> Subscription:
    spec = ConsumerSpec(name, bindings, retry_delays=FAST_RETRIES)
    return await subscribe(
        bus.transport,
        name,
        bindings,
        handler,
        validator=bus.validator,
        idempotency=bus.idempotency,
        tracker=bus.tracker,
        metrics=bus.metrics,
        spec=spec,
        prefetch=20,
    )


async def test_topology_is_idempotent_and_verifiable(bus: Bus) -> None:
    """Declaring the topology again changes nothing, and verifying it passes."""
    await bus.transport.declare_topology()
    await bus.transport.declare_topology(verify_only=True)
    spec = ConsumerSpec("conformance.idempotent", ("retail.#",))
    await bus.transport.declare_consumer(spec)
    await bus.transport.declare_consumer(spec)
    await bus.transport.declare_consumer(spec, verify_only=True)


async def test_consumer_queue_with_other_limits_is_a_mismatch(bus: Bus) -> None:
    """Re-declaring a consumer queue with a different length limit fails with TopologyMismatch naming it."""
    await bus.transport.declare_consumer(ConsumerSpec("conformance.limits", ("#",), max_length=1000))
    with pytest.raises(TopologyMismatch, match=r"conformance\.limits"):
        await bus.transport.declare_consumer(ConsumerSpec("conformance.limits", ("#",), max_length=2000))


async def test_verifying_finds_a_queue_with_other_arguments(bus: Bus) -> None:
    """`topology --verify` reports a consumer queue whose arguments differ from the expected ones."""
    await bus.transport.declare_consumer(ConsumerSpec("conformance.verify", ("#",), delivery_limit=5))
    await bus.transport.declare_consumer(ConsumerSpec("conformance.verify", ("#",), delivery_limit=5), verify_only=True)
    with pytest.raises(TopologyMismatch, match=r"conformance\.verify"):
        await bus.transport.declare_consumer(
            ConsumerSpec("conformance.verify", ("#",), delivery_limit=7), verify_only=True
        )


async def test_published_event_reaches_a_typed_handler(bus: Bus) -> None:
    """An event published with a confirm arrives once, typed by the generated models, and is acknowledged."""
    received: list[Event] = []

    async def handle(event: Event) -> None:
        received.append(event)

    await bus.subscribe("conformance.typed", ["retail.#"], handle)
    event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: len(received) == 1)
    event = received[0]
    assert event.event_id == event_id
    assert type(event.payload).__name__ == "RetailOfferSurfacedV1"
    assert event.document["payload"] == OFFER
    assert event.payload.model_dump(include={"team", "price"}) == {"team": OFFER["team"], "price": OFFER["price"]}
    assert event.envelope.source.app == "bloodbank"
    await eventually(lambda: _depth(bus, "conformance.typed", 0))


async def _depth(bus: Bus, queue: str, expected: int) -> bool:
    return await bus.transport.queue_depth(queue) == expected


async def test_topic_routing_delivers_only_matching_events(bus: Bus) -> None:
    """A consumer bound to `retail.#` gets retail events and not fireflies ones."""
    seen: list[str] = []

    async def handle(event: Event) -> None:
        seen.append(event.event_type)

    await bus.subscribe("conformance.routing", ["retail.#"], handle)
    await bus.subscribe("conformance.other", ["fireflies.*.*.v1"], _ignore)
    await bus.publish("fireflies.transcript.segment.v1", SEGMENT)
    await bus.publish("retail.inventory.snapshot.v1", SNAPSHOT)
    await eventually(lambda: seen == ["retail.inventory.snapshot.v1"])
    await asyncio.sleep(0.2)
    assert seen == ["retail.inventory.snapshot.v1"]


async def _ignore(event: Event) -> None:
    del event


async def test_failing_handler_is_retried_then_succeeds(bus: Bus) -> None:
    """A handler that fails twice is called a third time, with the attempt number, and the event is acked."""
    attempts: list[int] = []

    async def flaky(event: Event) -> None:
        attempts.append(event.attempt)
        if len(attempts) < 3:
            raise RuntimeError("database busy")

    await fast_subscribe(bus, "conformance.flaky", ("retail.#",), flaky)
    await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: attempts == [1, 2, 3])
    await eventually(lambda: _depth(bus, "conformance.flaky", 0))
    assert bus.metrics.consume.labels("conformance.flaky", "retry")._value.get() == 2


async def test_handler_failing_every_time_is_dead_lettered_with_the_reason(bus: Bus) -> None:
    """After the retries a failing event lands in dlq.all with error, consumer, attempts and time headers."""
    calls: list[int] = []

    async def broken(event: Event) -> None:
        calls.append(event.attempt)
        raise ValueError(f"cannot handle {event.event_id}")

    await fast_subscribe(bus, "conformance.broken", ("retail.#",), broken)
    event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    [dead] = await drain(bus, DEAD_LETTER_QUEUE, expect=1)
    assert calls == [1, 2, 3, 4]
    assert dead.message_id == event_id
    assert dead.routing_key == "dlq.conformance.broken"
    assert dead.headers[Headers.ERROR] == f"ValueError: cannot handle {event_id}"
    assert dead.headers[Headers.CONSUMER] == "conformance.broken"
    assert int(dead.headers[Headers.ATTEMPTS]) == 4
    assert str(dead.headers[Headers.FAILED_AT]).startswith("20")
    assert msgspec.json.decode(dead.body)["event_id"] == event_id


async def test_permanent_failure_is_dead_lettered_at_once(bus: Bus) -> None:
    """A handler raising PermanentFailure is not retried."""
    calls: list[int] = []

    async def refuse(event: Event) -> None:
        calls.append(event.attempt)
        raise PermanentFailure("customer deleted")

    await fast_subscribe(bus, "conformance.permanent", ("retail.#",), refuse)
    await bus.publish("retail.offer.surfaced.v1", OFFER)
    [dead] = await drain(bus, DEAD_LETTER_QUEUE, expect=1)
    assert calls == [1]
    assert dead.headers[Headers.ERROR] == "PermanentFailure: customer deleted"


async def test_invalid_message_is_dead_lettered_without_calling_the_handler(bus: Bus) -> None:
    """A message that is not a valid event (sent around the publisher) goes to the DLQ at once, with the paths."""
    called: list[Event] = []

    async def handle(event: Event) -> None:
        called.append(event)

    await fast_subscribe(bus, "conformance.invalid", ("retail.#",), handle)
    bad = {"event_type": "retail.offer.surfaced.v1", "payload": {"price": -1}}
    await bus.transport.publish_batch(
        [OutgoingMessage(msgspec.json.encode(bad), "retail.offer.surfaced.v1", str(uuid.uuid4()))], timeout=5
    )
    await bus.transport.publish_batch(
        [OutgoingMessage(b"\xff not json", "retail.offer.surfaced.v1", "raw-1")], timeout=5
    )
    dead = await drain(bus, DEAD_LETTER_QUEUE, expect=2)
    errors = sorted(str(d.headers[Headers.ERROR]) for d in dead)
    assert errors[0].startswith("InvalidEvent: invalid event: $.event_id: is required")
    assert errors[1].startswith("InvalidEvent: invalid event: $: not valid JSON")
    assert called == []


async def test_invalid_event_never_reaches_the_broker(bus: Bus) -> None:
    """Publishing an invalid payload raises InvalidEvent with every path, and nothing is queued."""
    await bus.subscribe("conformance.guard", ["#"], _ignore)
    with pytest.raises(InvalidEvent) as caught:
        await bus.publish("retail.offer.surfaced.v1", {**OFFER, "price": -3, "currency": "euro"})
    assert sorted(i.path for i in caught.value.issues) == ["$.payload.currency", "$.payload.price"]
    assert await bus.transport.queue_depth("conformance.guard") == 0


async def test_unroutable_event_is_kept_and_the_publisher_told(bus_without_store_queue: Bus) -> None:
    """Without the store's queue, an event no binding matches is kept in unrouted.all and the publisher told."""
    bus = bus_without_store_queue
    told: list[tuple[str, str]] = []

    async def on_unrouted(event_id: str, event_type: str) -> None:
        told.append((event_id, event_type))

    bus.publisher.on_unrouted = on_unrouted
    event_id = await bus.publish("fireflies.transcript.segment.v1", SEGMENT)
    await eventually(lambda: told == [(event_id, "fireflies.transcript.segment.v1")])
    [kept] = await drain(bus, UNROUTED_QUEUE, expect=1)
    assert kept.message_id == event_id


async def test_event_published_before_any_consumer_waits_in_the_store_queue(bus: Bus) -> None:
    """The shared topology holds the store's queue: an event nobody else is bound to waits there, not unrouted."""
    told: list[str] = []
    bus.publisher.on_unrouted = lambda event_id, _event_type: told.append(event_id)
    event_id = await bus.publish("fireflies.transcript.segment.v1", SEGMENT)
    [waiting] = await drain(bus, STORE_QUEUE.name, expect=1)
    assert waiting.message_id == event_id
    assert await bus.transport.queue_depth(UNROUTED_QUEUE) == 0
    assert told == []


async def test_verifying_the_topology_finds_a_missing_store_queue(
    transport_factory: TransportFactory, bus_without_store_queue: Bus
) -> None:
    """`topology --verify` fails naming `candystore.events` on a broker whose topology lacks it."""
    await bus_without_store_queue.transport.close()
    checker = transport_factory()
    await checker.connect()
    try:
        with pytest.raises(TopologyMismatch, match=r"'candystore\.events'.*(does not exist|NOT_FOUND)"):
            await checker.declare_topology(verify_only=True)
        await checker.declare_topology()
        await checker.declare_topology(verify_only=True)
        await checker.declare_consumer(STORE_QUEUE, verify_only=True)
    finally:
        await checker.close()


async def test_redelivered_event_is_handled_once(bus: Bus) -> None:
    """The same event published twice (a producer retry) reaches the handler once."""
    seen: list[str] = []

    async def handle(event: Event) -> None:
        seen.append(event.event_id)

    await bus.subscribe("conformance.idempotent-handler", ["retail.#"], handle)
    event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: seen == [event_id])
    await bus.publish("retail.offer.surfaced.v1", OFFER, event_id=event_id)
    await eventually(lambda: _depth(bus, "conformance.idempotent-handler", 0))
    await asyncio.sleep(0.2)
    assert seen == [event_id]


async def test_events_published_in_a_handler_inherit_the_parent(bus: Bus) -> None:
    """A handler's publish names the handled event as parent; the tracker answers both directions."""
    children: list[Event] = []

    async def react(event: Event) -> None:
        assert current_event_id() == event.event_id
        await bus.publish("retail.inventory.snapshot.v1", SNAPSHOT)

    async def collect(event: Event) -> None:
        children.append(event)

    await bus.subscribe("conformance.reactor", ["retail.offer.#"], react)
    await bus.subscribe("conformance.children", ["retail.inventory.#"], collect)
    parent_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: len(children) == 1)
    child_id = children[0].event_id
    assert [str(p) for p in children[0].envelope.correlation_ids] == [parent_id]
    assert bus.tracker is not None
    assert await bus.tracker.descendants(parent_id) == [child_id]
    assert await bus.tracker.ancestors(child_id) == [parent_id]


async def test_batch_answers_per_event(bus: Bus) -> None:
    """publish_many publishes the valid envelopes and answers each invalid one with its issues."""
    from bloodbank import build_envelope  # noqa: PLC0415

    source = {"host": "test", "type": "system", "app": "conformance"}
    good = [build_envelope("retail.offer.surfaced.v1", OFFER, source=source) for _ in range(5)]
    bad = build_envelope("retail.offer.surfaced.v1", {**OFFER, "team": ""}, source=source)
    await bus.subscribe("conformance.batch", ["retail.#"], _ignore)
    outcomes = await bus.publisher.publish_many([*good[:2], bad, *good[2:]])
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]
    assert outcomes[2].issues[0].path == "$.payload.team"
    assert [o.event_id for o in outcomes] == [e["event_id"] for e in [*good[:2], bad, *good[2:]]]


async def test_stop_lets_the_handler_in_progress_finish(bus: Bus) -> None:
    """Stopping a subscription waits for the handler in hand and acknowledges its message."""
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow(event: Event) -> None:
        started.set()
        await release.wait()
        finished.append(event.event_id)

    subscription = await bus.subscribe("conformance.graceful", ["retail.#"], slow)
    event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(subscription.stop(timeout=10))
    await asyncio.sleep(0.1)
    assert not stopping.done()
    release.set()
    await stopping
    assert finished == [event_id]
    assert await bus.transport.queue_depth("conformance.graceful") == 0


async def test_unsettled_message_survives_a_restart(transport_factory: TransportFactory, bus: Bus) -> None:
    """A message delivered but never settled (the process died) is delivered again by a new connection."""
    taken: list[Delivery] = []

    async def hold(delivery: Delivery) -> None:
        taken.append(delivery)  # never settled, like a process killed mid-handler

    spec = ConsumerSpec("conformance.restart", ("retail.#",))
    await bus.transport.declare_consumer(spec)
    await bus.transport.consume(spec, hold, prefetch=1)
    event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: len(taken) == 1)
    await bus.transport.close()

    again = transport_factory()
    await again.connect()
    redelivered: list[Delivery] = []

    async def take(delivery: Delivery) -> None:
        redelivered.append(delivery)
        await delivery.ack()

    subscription = await again.consume(spec, take, prefetch=1)
    try:
        await eventually(lambda: len(redelivered) == 1)
        assert redelivered[0].message_id == event_id
        assert redelivered[0].redelivered
    finally:
        await subscription.stop()
        await again.close()


async def test_a_plain_function_handler_is_called_for_each_delivery_and_settles_later(bus: Bus) -> None:
    """A handler that is not a coroutine runs as each message arrives; acknowledged afterwards, none comes back."""
    taken: list[Delivery] = []
    spec = ConsumerSpec("conformance.plain", ("retail.#",))
    await bus.transport.declare_consumer(spec)
    subscription = await bus.transport.consume(spec, taken.append, prefetch=10)
    try:
        published = [await bus.publish("retail.offer.surfaced.v1", OFFER) for _ in range(3)]
        await eventually(lambda: len(taken) == 3)
        for delivery in taken:
            await delivery.ack()
    finally:
        await subscription.stop(timeout=5)
    assert sorted(delivery.message_id or "" for delivery in taken) == sorted(published)
    assert await bus.transport.queue_depth(spec.name) == 0


async def test_a_plain_function_handler_that_raises_has_its_message_given_back(bus: Bus) -> None:
    """The message whose plain handler raised is released and delivered again."""
    calls: list[Delivery] = []

    def fail_once(delivery: Delivery) -> None:
        calls.append(delivery)
        if len(calls) == 1:
            raise RuntimeError("the handler's own bug")

    spec = ConsumerSpec("conformance.plain-failing", ("retail.#",))
    await bus.transport.declare_consumer(spec)
    subscription = await bus.transport.consume(spec, fail_once, prefetch=10)
    try:
        event_id = await bus.publish("retail.offer.surfaced.v1", OFFER)
        await eventually(lambda: len(calls) == 2)
        await calls[1].ack()
    finally:
        await subscription.stop(timeout=5)
    assert [delivery.message_id for delivery in calls] == [event_id, event_id]
    assert calls[1].redelivered
    assert await bus.transport.queue_depth(spec.name) == 0


async def test_many_events_none_lost_none_doubled(bus: Bus) -> None:
    """Five hundred events published in a batch are each handled exactly once."""
    from bloodbank import build_envelope  # noqa: PLC0415

    seen: dict[str, int] = {}

    async def count(event: Event) -> None:
        seen[event.event_id] = seen.get(event.event_id, 0) + 1

    await bus.subscribe("conformance.volume", ["retail.#"], count, prefetch=50)
    source: dict[str, Any] = {"host": "test", "type": "system"}
    envelopes = [build_envelope("retail.offer.surfaced.v1", OFFER, source=source) for _ in range(500)]
    outcomes = await bus.publisher.publish_many(envelopes)
    assert all(o.ok for o in outcomes)
    await eventually(lambda: len(seen) == 500, timeout=30)
    assert set(seen.values()) == {1}


async def test_queue_state_tells_ready_unsettled_and_consumers(bus: Bus) -> None:
    """What `bloodbank_queue_messages` and `bloodbank_consumers` report: the broker's view of a queue."""
    spec = ConsumerSpec("conformance.state", ("retail.#",), retry_delays=FAST_RETRIES)
    await bus.transport.declare_consumer(spec)
    await bus.publish("retail.offer.surfaced.v1", OFFER)
    await eventually(lambda: _state(bus, spec.name, ready=1, consumers=0))
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(delivery: Delivery) -> None:
        held.set()
        await release.wait()
        await delivery.ack()

    subscription = await bus.transport.consume(spec, hold, prefetch=1)
    try:
        await asyncio.wait_for(held.wait(), 10)
        await eventually(lambda: _state(bus, spec.name, ready=0, consumers=1))
        unacked = (await bus.transport.queue_state(spec.name)).unacked
        assert unacked in (1, None)  # RabbitMQ tells it only through its management API
    finally:
        release.set()
        await subscription.stop(timeout=5)
    await eventually(lambda: _state(bus, spec.name, ready=0, consumers=0))
    with pytest.raises(BloodbankError):
        await bus.transport.queue_state("conformance.never-declared")


async def _state(bus: Bus, queue: str, *, ready: int, consumers: int) -> bool:
    state = await bus.transport.queue_state(queue)
    return (state.ready, state.consumers) == (ready, consumers)
