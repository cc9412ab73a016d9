"""The batcher with several writers: a batch does not wait for the previous commit, and nothing is lost on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bloodbank.transport import Delivery
from candystore.batching import Batcher, Held
from candystore.store import DatabaseUnavailable


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


async def _until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


def _batcher(database: _Database, *, writers: int) -> Batcher[int, None]:
    return Batcher(
        name="test",
        write=database.write,
        settle=database.settle,
        batch_size=3,
        batch_wait=0.01,
        writers=writers,
        first_retry_delay=0.01,
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
