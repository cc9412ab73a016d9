"""An event whose detections cannot be written is dead-lettered alone; the store tells data errors from outages."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import insert, text

from bloodbank import Bus
from bloodbank.topology import DEAD_LETTER_QUEUE, Headers
from bloodbank.transport import Delivery
from visibility.service import VisibilityService
from visibility.store import ConflictFilter, DatabaseUnavailable, RecordRejected, StoreError, VisibilityStore
from visibility.store.detections import DetectionWrite, WriteResult
from visibility.store.schema import observations

from .conftest import Database
from .retail import OFFER_TYPE, offer_event, snapshot_event
from .service_helpers import eventually, running_service, started_bus, visibility_settings


def refuse_writes_of(service: VisibilityService, poison: str, error: Exception | None) -> None:
    """Make every write holding the ``poison`` offer fail: refused by the database itself, or raising ``error``."""
    real = service.store.write_detections

    async def refusing(write: DetectionWrite) -> WriteResult:
        if any(held.observation.event_id == poison for held in write.changes.held.values()):
            if error is not None:
                raise error
            async with service.store._transaction() as connection:  # a NOT NULL violation
                await connection.execute(insert(observations).values(**_row_without_view(poison)))
        return await real(write)

    service.store.write_detections = refusing  # type: ignore[method-assign]


def _row_without_view(event_id: str) -> dict[str, Any]:
    """An ``observations`` row the database refuses: its view is NOT NULL."""
    return {"view": None, "entity": "[]", "team": "t", "event_id": event_id, "at": 0.0, "document": {}}


async def dead_letters(bus: Bus, *, expect: int) -> list[Delivery]:
    """Take ``expect`` messages out of ``dlq.all``, then check that no more arrive."""
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)
        await delivery.ack()

    subscription = await bus.transport.consume_queue(DEAD_LETTER_QUEUE, keep, prefetch=10)
    try:
        await eventually(lambda: _async(len(received) >= expect), what=f"{expect} dead letter(s)")
        await asyncio.sleep(0.1)
    finally:
        await subscription.stop(timeout=5)
    assert len(received) == expect
    return received


async def _async(value: Any) -> Any:
    return value


async def _held_offers(service: VisibilityService) -> set[str]:
    held = await service.store.load_memory()
    return {stored.observation.event_id for stored in held if stored.team is not None}


@pytest.mark.parametrize(
    "error",
    [None, OverflowError("float too large")],
    ids=["refused by the database", "unexpected exception"],
)
async def test_an_event_whose_detections_cannot_be_written_is_dead_lettered_alone(tmp_path, database, error):
    """The event at fault is dead-lettered at once with the reason; the others of its group commit and count."""
    async with (
        started_bus(tmp_path) as bus,
        running_service(visibility_settings(database, tmp_path, batch_wait=0.05), bus) as service,
    ):
        truth = snapshot_event(items={"p1": (0, 10.0), "p2": (5, 10.0), "p3": (5, 10.0)})
        await bus.publisher.publish_envelope(truth)
        await eventually(lambda: _has_truth(service, truth), what="the snapshot held")
        contradicting = offer_event("magic-apron", availability="in_stock", seconds=1)  # p1 is out of stock
        poison = offer_event("recs-search", product="p2", seconds=1)
        fine = offer_event("sponsored", product="p3", seconds=1)
        refuse_writes_of(service, poison["event_id"], error)
        await bus.publisher.publish_many([contradicting, poison, fine])
        (dead,) = await dead_letters(bus, expect=1)
        await eventually(lambda: _has_offers(service, contradicting, fine), what="the other offers held")
        [conflict] = (await service.store.conflicts(ConflictFilter())).items
    assert dead.message_id == poison["event_id"]
    reason = str(dead.headers[Headers.ERROR])
    prefix = f"PermanentFailure: the detector cannot store what {OFFER_TYPE} {poison['event_id']} caused: "
    assert reason.startswith(prefix)
    assert reason[len(prefix) :].startswith(
        "RecordRejected: the database refused the data (" if error is None else "OverflowError: float too large"
    )
    assert dead.headers[Headers.ATTEMPTS] == 1  # at once, never retried
    assert (conflict.rule, conflict.teams) == ("inventory_contradiction", ("magic-apron",))
    assert set(conflict.source_event_ids) == {truth["event_id"], contradicting["event_id"]}


async def _has_truth(service: VisibilityService, event: dict[str, Any]) -> bool:
    held = await service.store.load_memory()
    return any(stored.team is None and stored.observation.event_id == event["event_id"] for stored in held)


async def _has_offers(service: VisibilityService, *events: dict[str, Any]) -> bool:
    held = await _held_offers(service)
    return {event["event_id"] for event in events} <= held


async def test_the_memory_forgets_the_event_at_fault(tmp_path, sqlite_database):
    """An offer whose write failed is not remembered: a later offer is judged without it, then it can come again."""
    async with (
        started_bus(tmp_path) as bus,
        running_service(visibility_settings(sqlite_database, tmp_path), bus) as service,
    ):
        poison = offer_event("recs-search", price=12.0, seconds=1)
        refuse_writes_of(service, poison["event_id"], RecordRejected("value too long", code="22001"))
        await bus.publisher.publish_envelope(poison)
        await dead_letters(bus, expect=1)
        agreeing = offer_event("magic-apron", price=10.0, seconds=2)  # disagrees only with the forgotten poison
        await bus.publisher.publish_envelope(agreeing)
        await eventually(lambda: _has_offers(service, agreeing), what="the later offer held")
        assert poison["event_id"] not in await _held_offers(service)
        assert (await service.store.conflicts(ConflictFilter())).items == []
        assert service.detector.engine.state.observation_count == 1


# --- the store's translation --------------------------------------------------------------------


class RawStore(VisibilityStore):
    """The store, running statements of the test's own through its translation of errors."""

    async def execute(self, sql: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(text(sql))


def raw_store(database: Database) -> RawStore:
    return RawStore(database.store().engine)


@pytest.fixture
async def raw(database: Database):
    opened = raw_store(database)
    await opened.migrate()
    yield opened
    await opened.close()


def _raise(sqlstate: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '{sqlstate}'; END $$"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("53100", DatabaseUnavailable),
        ("40001", DatabaseUnavailable),
        ("25006", DatabaseUnavailable),
        ("57P01", DatabaseUnavailable),
        ("22001", RecordRejected),
        ("23505", RecordRejected),
        ("54000", RecordRejected),
        ("XX000", StoreError),
    ],
)
async def test_postgresql_errors_are_classified_by_sqlstate(postgres_database, sqlstate, expected):
    """Disk full, serialization, read-only and shutdown hold; data, integrity and limits blame the record."""
    store = raw_store(postgres_database)
    try:
        with pytest.raises(StoreError) as caught:
            await store.execute(_raise(sqlstate))
    finally:
        await store.close()
    assert type(caught.value) is expected


@pytest.mark.postgres
async def test_a_real_datetime_overflow_is_a_record_error(postgres_database):
    """PostgreSQL's own "timestamp out of range" (22008) is RecordRejected with its code."""
    store = raw_store(postgres_database)
    try:
        with pytest.raises(RecordRejected) as caught:
            await store.execute("SELECT make_timestamp(300000, 1, 1, 0, 0, 0)")
    finally:
        await store.close()
    assert caught.value.code == "22008"


async def test_a_constraint_violation_is_a_record_error(raw):
    """A NOT NULL violation, refused by SQLite or PostgreSQL, is RecordRejected with the database's code."""
    with pytest.raises(RecordRejected) as caught:
        async with raw._transaction() as connection:
            await connection.execute(insert(observations).values(**_row_without_view(str(uuid.uuid4()))))
    assert caught.value.code in {"23502", "SQLITE_CONSTRAINT_NOTNULL"}


async def test_missing_tables_hold_as_unavailable(database):
    """Tables not migrated yet make the store unavailable (held), not a refusal of the data."""
    unmigrated = database.store()
    try:
        with pytest.raises(DatabaseUnavailable, match="`visibility serve` migrates them"):
            await unmigrated.load_memory()
    finally:
        await unmigrated.close()
