"""The batcher: several writers, nothing lost on stop, an outage held, and a record at fault isolated from its batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from bloodbank.transport import Delivery
from candystore.batching import Batcher, Held
from candystore.store import DatabaseUnavailable, RecordRejected
from gumdrop.backoff import Backoff


class _Delivery(Delivery):
    def __init__(self, number: int) -> None:
        self.body = b"{}"
        self.routing_key = "test.thing.happened.v1"
        self.message_id = str(number)
        self.headers: Mapping[str, Any] = {}
        self.redelivered = False
        self.released = False

    async def ack(self) -> None:  # settled through the batcher's settle callback in these tests
        raise AssertionError("not expected")

    async def retry(self, *, delay: float, headers: Mapping[str, Any]) -> None:  # noqa: ARG002
        raise AssertionError("not expected")

    async def dead_letter(self, *, headers: Mapping[str, Any]) -> None:  # noqa: ARG002
        raise AssertionError("not expected")

    async def release(self) -> None:
        self.released = True


class _Database:
    """Writes that finish when the test says so, and a record of what was committed and settled."""

    def __init__(self) -> None:
        self.started: list[list[int]] = []
        self.committed: list[list[int]] = []
        self.settled: list[int] = []
        self.gates: list[asyncio.Event] = []
        self.down = False

    async def write(self, batch: Sequence[Held[int]]) -> None:
        values = [held.value for held in batch]
        self.started.append(values)
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.down:
            raise DatabaseUnavailable("connection refused")
        self.committed.append(values)

    async def settle(self, batch: Sequence[Held[int]], _: None) -> None:
        self.settled.extend(held.value for held in batch)

    async def reject(self, held: Held[int], reason: str) -> None:
        raise AssertionError(f"not expected: {held.value} rejected ({reason})")


async def _until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


def _batcher(database: _Database, *, writers: int) -> Batcher[int, None]:
    return Batcher(
        name="test",
        write=database.write,
        settle=database.settle,
        reject=database.reject,
        batch_size=3,
        batch_wait=0.01,
        writers=writers,
        backoff=Backoff(first=0.01, ceiling=10.0),
    )


async def test_a_second_batch_is_written_while_the_first_commits() -> None:
    database = _Database()
    batcher = _batcher(database, writers=2)
    batcher.start()
    for number in range(3):
        batcher.offer(_Delivery(number), number)
    await _until(lambda: len(database.started) == 1)
    for number in range(3, 5):
        batcher.offer(_Delivery(number), number)
    await _until(lambda: len(database.started) == 2)  # the first write is still open
    assert database.committed == []
    database.gates[1].set()
    await _until(lambda: database.settled == [3, 4])  # the later batch settles first: nothing waits on order
    database.gates[0].set()
    await _until(lambda: len(database.settled) == 5)
    await batcher.stop(timeout=5)
    assert sorted(database.settled) == list(range(5))


async def test_with_every_writer_busy_the_next_batch_waits_and_grows() -> None:
    database = _Database()
    batcher = _batcher(database, writers=1)
    batcher.start()
    batcher.offer(_Delivery(0), 0)
    await _until(lambda: len(database.started) == 1)
    for number in range(1, 4):
        batcher.offer(_Delivery(number), number)
    await asyncio.sleep(0.05)  # well past batch_wait: still no second write while the only writer is busy
    assert len(database.started) == 1
    database.gates[0].set()
    await _until(lambda: len(database.started) == 2)
    assert database.started[1] == [1, 2, 3]
    database.gates[1].set()
    await batcher.stop(timeout=5)
    assert database.settled == [0, 1, 2, 3]


@pytest.mark.parametrize("writers", [1, 2])
async def test_stop_during_an_outage_releases_every_batch_in_hand(writers: int) -> None:
    database = _Database()
    database.down = True
    batcher = _batcher(database, writers=writers)
    batcher.start()
    deliveries = [_Delivery(number) for number in range(7)]
    for number, delivery in enumerate(deliveries):
        batcher.offer(delivery, number)
    await _until(lambda: len(database.started) >= writers)
    for gate in database.gates:
        gate.set()
    await _until(lambda: batcher.failing)
    stopping = asyncio.create_task(batcher.stop(timeout=5))
    while not stopping.done():  # each last attempt fails too
        for gate in database.gates:
            gate.set()
        await asyncio.sleep(0.001)
    await stopping
    assert database.committed == []
    assert database.settled == []
    assert all(delivery.released for delivery in deliveries)
    assert batcher.in_hand == 0


class _Poisoned:
    """Writes that commit at once unless ``fault`` finds something wrong with the batch, recording every attempt."""

    def __init__(self, fault: Callable[[list[int]], Exception | None]) -> None:
        self.fault = fault
        self.attempts: list[list[int]] = []
        self.settled: list[int] = []
        self.rejected: dict[int, str] = {}

    async def write(self, batch: Sequence[Held[int]]) -> None:
        values = [held.value for held in batch]
        self.attempts.append(values)
        if error := self.fault(values):
            raise error

    async def settle(self, batch: Sequence[Held[int]], _: None) -> None:
        self.settled.extend(held.value for held in batch)

    async def reject(self, held: Held[int], reason: str) -> None:
        self.rejected[held.value] = reason


def _refusing(*culprits: int, error: Callable[[], Exception]) -> Callable[[list[int]], Exception | None]:
    return lambda values: error() if set(culprits) & set(values) else None


async def _write_one_batch(database: _Poisoned, size: int) -> Batcher[int, None]:
    batcher = Batcher(
        name="test",
        write=database.write,
        settle=database.settle,
        reject=database.reject,
        batch_size=size,
        batch_wait=0.01,
        backoff=Backoff(first=0.01, ceiling=10.0),
    )
    batcher.start()
    for number in range(size):
        batcher.offer(_Delivery(number), number)
    await _until(lambda: len(database.settled) + len(database.rejected) == size)
    await batcher.stop(timeout=5)
    return batcher


@pytest.mark.parametrize(
    "error",
    [
        lambda: RecordRejected(
            "the database refused the data (22008): date/time field value out of range", code="22008"
        ),
        lambda: OverflowError("date value out of range"),
    ],
    ids=["record error", "unexpected exception"],
)
async def test_the_record_at_fault_is_rejected_with_the_reason_and_the_rest_settled(
    error: Callable[[], Exception],
) -> None:
    """A record error or an unexpected exception caused by one record rejects that record alone; the others commit."""
    database = _Poisoned(_refusing(5, error=error))
    batcher = await _write_one_batch(database, 16)
    assert sorted(database.settled) == [number for number in range(16) if number != 5]
    assert database.rejected == {5: f"{type(error()).__name__}: {error()}"}
    assert len(database.attempts) <= 2 * 16 - 1
    assert [5] in database.attempts  # rejected only after failing alone
    assert not batcher.failing
    assert batcher.in_hand == 0


async def test_several_records_at_fault_are_each_isolated_within_the_bound() -> None:
    """Three bad records in a batch of 16 are each rejected, the 13 others settled, in at most 2n - 1 writes."""
    database = _Poisoned(_refusing(0, 7, 15, error=lambda: RecordRejected("value too long", code="22001")))
    await _write_one_batch(database, 16)
    assert sorted(database.rejected) == [0, 7, 15]
    assert sorted(database.settled) == [number for number in range(16) if number not in {0, 7, 15}]
    assert len(database.attempts) <= 2 * 16 - 1


async def test_every_record_at_fault_takes_exactly_the_whole_bisection() -> None:
    """A batch whose every record fails is rejected record by record after 2n - 1 writes, never more."""
    database = _Poisoned(lambda _: ValueError("a bug"))
    await _write_one_batch(database, 8)
    assert sorted(database.rejected) == list(range(8))
    assert len(database.attempts) == 2 * 8 - 1


async def test_an_infrastructure_error_holds_the_batch_and_never_rejects() -> None:
    """While one record's batch meets DatabaseUnavailable the whole batch is written again, not bisected."""
    outage = {"left": 3}

    def fault(_: list[int]) -> Exception | None:
        if outage["left"]:
            outage["left"] -= 1
            return DatabaseUnavailable("the database is unavailable: connection refused")
        return None

    database = _Poisoned(fault)
    await _write_one_batch(database, 8)
    assert database.rejected == {}
    assert sorted(database.settled) == list(range(8))
    assert database.attempts == [list(range(8))] * 4


async def test_an_outage_while_bisecting_holds_the_part_then_isolation_goes_on() -> None:
    """DatabaseUnavailable in the middle of a bisection holds that part; once back, only the culprit is rejected."""
    outage = {"left": 2}

    def fault(values: list[int]) -> Exception | None:
        if len(values) == 4 and outage["left"]:  # the database goes down once the bisection has begun
            outage["left"] -= 1
            return DatabaseUnavailable("the database is unavailable: connection refused")
        return RecordRejected("value too long", code="22001") if 6 in values else None

    database = _Poisoned(fault)
    await _write_one_batch(database, 8)
    assert database.rejected == {6: "RecordRejected: value too long"}
    assert sorted(database.settled) == [0, 1, 2, 3, 4, 5, 7]
    assert database.attempts[:4] == [list(range(8)), [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]


async def test_oldest_held_since_follows_the_oldest_delivery_not_settled() -> None:
    """The oldest arrival in hand is reported until it is settled, then the next one's; None with nothing in hand."""
    database = _Database()
    batcher = _batcher(database, writers=1)
    assert batcher.oldest_held_since is None
    batcher.start()
    loop = asyncio.get_running_loop()
    before = loop.time()
    batcher.offer(_Delivery(0), 0)
    after = loop.time()
    first = batcher.oldest_held_since
    assert first is not None
    assert before <= first <= after
    await _until(lambda: len(database.started) == 1)
    batcher.offer(_Delivery(1), 1)
    assert batcher.oldest_held_since == first  # the first is being written, not settled yet
    database.gates[0].set()
    await _until(lambda: database.settled == [0])
    second = batcher.oldest_held_since
    assert second is not None
    assert second > first
    await _until(lambda: len(database.started) == 2)
    database.gates[1].set()
    await _until(lambda: database.settled == [0, 1])
    assert batcher.oldest_held_since is None
    await batcher.stop(timeout=5)
