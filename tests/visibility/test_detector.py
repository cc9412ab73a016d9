"""From retail events on a real bus to stored conflicts and the published events naming their causes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bloodbank import Bus
from visibility.domain.publications import DETECTED, ESCALATED, RESOLVED
from visibility.domain.records import ConflictRecord
from visibility.domain.transitions import Action
from visibility.rules import load_rules
from visibility.service import VisibilityService
from visibility.store import ConflictFilter, DatabaseUnavailable, StoreError
from visibility.store.detections import DetectionWrite, WriteResult

from .conftest import Database
from .retail import offer_event, snapshot_event
from .service_helpers import Clock, Watcher, eventually, running_service, started_bus, visibility_settings


async def watch(bus: Bus) -> Watcher:
    watcher = Watcher()
    await bus.subscribe("test.visibility-watch", ["visibility.#"], watcher.handle)
    return watcher


async def conflicts_of(service: VisibilityService, **filters: Any) -> list[ConflictRecord]:
    return (await service.store.conflicts(ConflictFilter(**filters))).items


async def detect_one_conflict(bus: Bus, database: Database, tmp_path: Path) -> None:
    watcher = await watch(bus)
    async with running_service(visibility_settings(database, tmp_path), bus) as service:
        truth = snapshot_event(items={"p1": (0, 39.98)})
        shown = offer_event("magic-apron", availability="in_stock", quantity=12, price=39.98, seconds=5)
        await bus.publisher.publish_envelope(truth)
        await bus.publisher.publish_envelope(shown)
        [conflict] = await eventually(lambda: conflicts_of(service), what="the conflict to be stored")
        assert (conflict.rule, conflict.teams, conflict.status) == ("inventory_contradiction", ("magic-apron",), "open")
        assert set(conflict.source_event_ids) == {truth["event_id"], shown["event_id"]}
        [published] = await eventually(lambda: _async(watcher.of_type(DETECTED)), what="the detected event")
        assert published["event_id"] == str(conflict.detected_event_id)
        assert sorted(published["correlation_ids"]) == sorted([truth["event_id"], shown["event_id"]])
        assert published["payload"]["conflict_id"] == str(conflict.conflict_id)
        assert published["source"]["app"] == "visibility"
        await eventually(lambda: _no_unpublished(service), what="the outbox to empty")
        samples = service.metrics.registry.get_sample_value(
            "visibility_conflicts_total", {"rule": "inventory_contradiction"}
        )
        assert samples == 1.0


async def _async(value: Any) -> Any:
    return value


async def _no_unpublished(service: Any) -> bool:
    return not await service.store.unpublished()


async def test_retail_events_become_a_stored_and_published_conflict(tmp_path, sqlite_database):
    """On the embedded bus, a snapshot and a contradicting offer give one conflict and its detected event."""
    async with started_bus(tmp_path) as bus:
        await detect_one_conflict(bus, sqlite_database, tmp_path)


@pytest.mark.rabbitmq
@pytest.mark.postgres
async def test_on_rabbitmq_and_postgresql(tmp_path, rabbitmq_url, postgres_database):
    """The same flow through RabbitMQ into PostgreSQL."""
    async with started_bus(tmp_path, broker_url=rabbitmq_url) as bus:
        await detect_one_conflict(bus, postgres_database, tmp_path)


async def test_a_restart_neither_misses_nor_repeats_a_conflict(tmp_path, sqlite_database):
    """The truth seen before a restart judges an offer after it; redelivered events raise nothing twice."""
    async with started_bus(tmp_path, idempotency=None) as bus:  # the detector's own idempotency, not the bus's
        watcher = await watch(bus)
        settings = visibility_settings(sqlite_database, tmp_path)
        truth = snapshot_event(items={"p1": (0, 10.0)})
        early = offer_event("sponsored", price=12.0, availability="unknown", seconds=1)
        async with running_service(settings, bus) as first:
            await bus.publisher.publish_envelope(truth)
            await bus.publisher.publish_envelope(early)
            await eventually(lambda: conflicts_of(first), what="the price conflict against the truth")
        async with running_service(settings, bus) as second:
            shown = offer_event("magic-apron", availability="in_stock", price=10.0, seconds=2)
            await bus.publisher.publish_envelope(shown)
            await eventually(
                lambda: conflicts_of(second, rule="inventory_contradiction"), what="the inventory conflict"
            )
            for again in (truth, early, shown):  # redeliveries, as after a crash before the acknowledgement
                await bus.publisher.publish_envelope(again)
            marker = offer_event("recs-search", product="p2", seconds=3)
            await bus.publisher.publish_envelope(marker)
            await eventually(lambda: _has_offer(second, marker["event_id"]), what="the marker offer")
            conflicts = await conflicts_of(second)
        assert sorted((c.rule, c.teams, c.occurrence_count) for c in conflicts) == [
            ("inventory_contradiction", ("magic-apron",), 1),
            ("price_mismatch", ("magic-apron", "sponsored"), 1),
            ("price_mismatch", ("sponsored",), 1),
        ]
        detected = await eventually(
            lambda: _async(len(watcher.of_type(DETECTED)) >= 3 and watcher.of_type(DETECTED)), what="3 events"
        )
        assert len({event["payload"]["conflict_id"] for event in detected}) == 3


async def _has_offer(service: Any, event_id: str) -> bool:
    held = await service.store.load_memory()
    return any(stored.team is not None and stored.observation.event_id == event_id for stored in held)


async def test_escalation_timers_survive_a_restart(tmp_path, sqlite_database):
    """A conflict opened before a restart escalates after it once its deadline passed, then is resolved."""
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        (Path(__file__).parents[2] / "visibility" / "default_rules.yaml")
        .read_text()
        .replace("after: 24h", "after: 2h")
        .replace("after: 48h", "after: 3h")
    )
    rules = load_rules(rules_file)
    clock = Clock()
    async with started_bus(tmp_path) as bus:
        watcher = await watch(bus)
        settings = visibility_settings(sqlite_database, tmp_path)
        async with running_service(settings, bus, rules=rules, clock=clock) as first:
            await bus.publisher.publish_envelope(snapshot_event(items={"p1": (0, 10.0)}))
            await bus.publisher.publish_envelope(offer_event(availability="limited", seconds=1))
            [conflict] = await eventually(lambda: conflicts_of(first), what="the conflict")
        clock.advance(hours=2, seconds=1)
        async with running_service(settings, bus, rules=rules, clock=clock) as second:
            [escalated] = await eventually(lambda: conflicts_of(second, status="escalated"), what="the escalation")
            assert (escalated.escalation_level, escalated.escalated_to) == ("decision_authority", "delivery")
            clock.advance(hours=3)
            await eventually(lambda: _level(second, conflict, "executive"), what="the escalation to the executive")
            await second.lifecycle.act(conflict.conflict_id, Action.ACKNOWLEDGE, actor="dave", note=None)
            await second.lifecycle.act(conflict.conflict_id, Action.FIX, actor="dave", note="restocked")
            levels = await eventually(
                lambda: _async(len(watcher.of_type(ESCALATED)) == 2 and watcher.of_type(RESOLVED)),
                what="the escalated and resolved events",
            )
        [resolved] = levels
        assert resolved["payload"]["resolution"] == "fixed"
        assert resolved["correlation_ids"] == [str(conflict.detected_event_id)]
        assert [e["payload"]["escalated_to"] for e in watcher.of_type(ESCALATED)] == ["delivery", "evp-digital"]


async def _level(service: Any, conflict: ConflictRecord, level: str) -> bool:
    found = await service.store.conflict(conflict.conflict_id)
    return found is not None and found.escalation_level == level


async def test_a_database_outage_holds_the_events_and_loses_none(tmp_path, sqlite_database):
    """While writes fail as unavailable the events wait unacknowledged; once back, the conflict is stored once."""
    async with (
        started_bus(tmp_path) as bus,
        running_service(visibility_settings(sqlite_database, tmp_path), bus) as svc,
    ):
        real = svc.store.write_detections
        failures = {"left": 3}

        async def flaky(write: DetectionWrite) -> WriteResult:
            if failures["left"]:
                failures["left"] -= 1
                raise DatabaseUnavailable("the database is unavailable: connection refused")
            return await real(write)

        svc.store.write_detections = flaky  # type: ignore[method-assign]
        await bus.publisher.publish_envelope(snapshot_event(items={"p1": (0, 10.0)}))
        await bus.publisher.publish_envelope(offer_event(availability="in_stock", seconds=1))
        [conflict] = await eventually(lambda: conflicts_of(svc), what="the conflict after the outage")
        assert conflict.occurrence_count == 1
        assert failures["left"] == 0
        assert await bus.transport.queue_depth("dlq.all") == 0


async def test_a_failed_group_write_is_written_again_per_event_on_a_reloaded_memory(tmp_path, sqlite_database):
    """A group write the store refuses once is written again event by event on a reloaded memory: nothing missed."""
    async with (
        started_bus(tmp_path) as bus,
        running_service(visibility_settings(sqlite_database, tmp_path), bus) as svc,
    ):
        real = svc.store.write_detections
        failures = {"left": 1}

        async def refusing(write: DetectionWrite) -> WriteResult:
            if failures["left"] and write.findings:
                failures["left"] -= 1
                raise StoreError("the database refused the operation: a bug")
            return await real(write)

        svc.store.write_detections = refusing  # type: ignore[method-assign]
        truth = snapshot_event(items={"p1": (0, 10.0)})
        await bus.publisher.publish_envelope(truth)
        await eventually(lambda: _has_truth(svc, truth["event_id"]), what="the snapshot to be held")
        await bus.publisher.publish_envelope(offer_event(availability="in_stock", seconds=1))
        [conflict] = await eventually(lambda: conflicts_of(svc), what="the conflict after the retry")
        assert failures["left"] == 0
        assert conflict.occurrence_count == 1
        assert await bus.transport.queue_depth("dlq.all") == 0  # no event was at fault: none dead-lettered


async def _has_truth(service: VisibilityService, event_id: str) -> bool:
    held = await service.store.load_memory()
    return any(stored.team is None and stored.observation.event_id == event_id for stored in held)
