"""The bus outbox: what could not be published after its commit is published by the sweep, unchanged."""

from __future__ import annotations

from bloodbank import BrokerUnavailable
from visibility.domain.detection import DetectionEngine
from visibility.domain.publications import DETECTED
from visibility.publishing import OutboxPublisher, bus_sender
from visibility.rules import load_rules
from visibility.store.detections import DetectionWrite
from visibility.store.outbox import OutboxEvent

from .retail import at, check, offer, snapshot
from .service_helpers import Clock, Watcher, eventually, started_bus

RULES = load_rules()


async def test_an_event_the_broker_missed_is_published_by_the_sweep_with_its_id_and_time(tmp_path, store):
    """A failed publish stays in the outbox; the sweep publishes it later with the same id and timestamp."""
    engine = DetectionEngine(RULES)
    check(engine, snapshot(items={"p1": (0, 10.0)}))
    findings = check(engine, offer(availability="in_stock", seconds=1))
    result = await store.write_detections(
        DetectionWrite(
            findings=findings,
            changes=engine.state.take_changes(),
            counts=engine.take_counts(),
            detected_at=at(2),
            first_escalation=lambda rule: RULES.rule(rule).escalation[0].after,
        )
    )
    [written] = result.events
    async with started_bus(tmp_path) as bus:
        watcher = Watcher()
        await bus.subscribe("test.outbox-watch", ["visibility.#"], watcher.handle)
        send = bus_sender(bus)
        down = {"broker": True}

        async def flaky(event: OutboxEvent) -> None:
            if down["broker"]:
                raise BrokerUnavailable("the broker did not confirm within 10 s")
            await send(event)

        clock = Clock(at(2))
        publisher = OutboxPublisher(store, flaky, interval=5.0, now=clock.now)
        assert await publisher.publish(result.events) == 0
        assert [event.event_id for event in await store.unpublished()] == [written.event_id]
        down["broker"] = False
        assert await publisher.sweep() == 0  # written just now: left to the publish after the commit
        clock.advance(seconds=6)
        assert await publisher.sweep() == 1
        [published] = await eventually(lambda: _events(watcher), what="the detected event")
        assert published["event_id"] == written.event_id
        assert published["event_type"] == DETECTED
        assert published["timestamp"] == "2026-11-02T19:00:02Z"
        assert published["correlation_ids"] == list(written.correlation_ids)
        assert await store.unpublished() == []


async def _events(watcher: Watcher) -> list[dict[str, object]]:
    return watcher.of_type(DETECTED)
