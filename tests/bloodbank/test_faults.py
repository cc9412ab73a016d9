"""Fault injection on the real broker: killed consumers, a restarted broker, poison events.

Each test counts accepted, handled, dead-lettered, lost and duplicated events by id,
and asserts that none is lost. Slow by nature: marked ``faults`` (CI runs them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bloodbank import BloodbankSettings, Bus, ConsumerSpec, Event, build_envelope
from bloodbank.topology import DEAD_LETTER_QUEUE, Headers
from bloodbank.transport import Delivery
from bloodbank.transport.rabbitmq import RabbitMQTransport
from holyfields import default_catalog
from tests.bloodbank.fault_consumer import CONSUMER
from tests.bloodbank.private_broker import PrivateRabbitMQ
from tests.conftest import unavailable

pytestmark = [pytest.mark.faults, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[2]
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "faults", "type": "system", "app": "faults"}


@dataclass
class Tally:
    accepted: set[str]
    handled: set[str]
    dead_lettered: set[str]
    calls: int

    @property
    def lost(self) -> set[str]:
        return self.accepted - self.handled - self.dead_lettered

    @property
    def duplicated(self) -> int:
        return self.calls - len(self.handled) - len(self.dead_lettered)

    def report(self) -> str:
        return (
            f"accepted={len(self.accepted)} handled={len(self.handled)} dead_lettered={len(self.dead_lettered)} "
            f"lost={len(self.lost)} duplicated={self.duplicated}"
        )


def offers(count: int, *, poison_every: int = 0) -> list[dict[str, Any]]:
    envelopes = []
    for index in range(count):
        poison = poison_every and index % poison_every == 0
        payload = {**OFFER, "product_id": f"{'POISON' if poison else 'SKU'}-{index}"}
        envelopes.append(build_envelope("retail.offer.surfaced.v1", payload, source=SOURCE))
    return envelopes


class ConsumerProcess:
    """The consumer under test, as a separate process that can be SIGKILLed and started again."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url, self.data_dir = url, data_dir
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bloodbank.fault_consumer", self.url, str(self.data_dir)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.process.stdout.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def calls(self) -> list[tuple[str, str]]:
        path = self.data_dir / "handled-log.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            return [(str(r[0]), str(r[1])) for r in db.execute("SELECT event_id, outcome FROM calls")]


@pytest.fixture
def consumer_process(rabbitmq_url: str, tmp_path: Path) -> Iterator[ConsumerProcess]:
    process = ConsumerProcess(rabbitmq_url, tmp_path / "consumer")
    process.data_dir.mkdir()
    yield process
    process.stop()


@pytest.fixture
async def publisher_bus(rabbitmq_url: str, tmp_path: Path) -> AsyncIterator[Bus]:
    bus = await Bus.start(
        BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path / "publisher"),
        transport=RabbitMQTransport(rabbitmq_url, connection_name="fault-publisher"),
    )
    await bus.transport.declare_consumer(ConsumerSpec(CONSUMER, ("retail.#",)))
    yield bus
    await bus.close()


async def publish_all(bus: Bus, envelopes: list[dict[str, Any]], *, batch: int = 500) -> set[str]:
    accepted: set[str] = set()
    for start in range(0, len(envelopes), batch):
        outcomes = await bus.publisher.publish_many(envelopes[start : start + batch])
        accepted.update(o.event_id for o in outcomes if o.ok and o.event_id)
    return accepted


async def dead_letters(bus: Bus, expect: int, *, timeout: float) -> list[Delivery]:
    received: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        received.append(delivery)
        await delivery.ack()

    subscription = await bus.transport.consume_queue(DEAD_LETTER_QUEUE, keep, prefetch=100)
    try:
        async with asyncio.timeout(timeout):
            while len(received) < expect:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # and nothing more than expected
    finally:
        await subscription.stop()
    return received


async def test_consumer_killed_three_times_loses_nothing(publisher_bus: Bus, consumer_process: ConsumerProcess) -> None:
    """20,000 events while the consumer is SIGKILLed three times: every one is handled, duplicates absorbed."""
    envelopes = offers(20_000)
    consumer_process.start()
    publishing = asyncio.create_task(publish_all(publisher_bus, envelopes))
    for threshold in (3_000, 8_000, 13_000):
        while len(consumer_process.calls()) < threshold:
            await asyncio.sleep(0.05)
        consumer_process.kill()
        consumer_process.start()
    accepted = await publishing
    async with asyncio.timeout(240):
        while len({e for e, _ in consumer_process.calls()}) < len(accepted):
            await asyncio.sleep(0.2)
    calls = consumer_process.calls()
    tally = Tally(accepted, {e for e, _ in calls}, set(), len(calls))
    print(tally.report())  # noqa: T201 - the figures of the run
    assert len(accepted) == 20_000
    assert tally.lost == set()
    assert tally.handled == accepted


async def test_poison_events_are_exactly_the_dead_letters(
    publisher_bus: Bus, consumer_process: ConsumerProcess
) -> None:
    """With 1% poison events, exactly those end in the DLQ, with reasons, after retries 1 s, 2 s and 4 s apart."""
    envelopes = offers(2_000, poison_every=100)
    poison = {e["event_id"] for e in envelopes if e["payload"]["product_id"].startswith("POISON")}
    consumer_process.start()
    accepted = await publish_all(publisher_bus, envelopes)
    dead = await dead_letters(publisher_bus, len(poison), timeout=90)
    dead_ids = {d.message_id for d in dead if d.message_id}
    calls = consumer_process.calls()
    tally = Tally(accepted, {e for e, o in calls if o == "ok"}, dead_ids, len(calls) - 3 * len(poison))
    print(tally.report())  # noqa: T201
    assert dead_ids == poison
    assert tally.lost == set()
    for delivery in dead:
        assert delivery.headers[Headers.ERROR] == "RuntimeError: poison event"
        assert int(delivery.headers[Headers.ATTEMPTS]) == 4
        assert delivery.headers[Headers.CONSUMER] == CONSUMER
    per_poison = [sum(1 for e, o in calls if e == event_id and o == "fail") for event_id in poison]
    assert set(per_poison) == {4}


@pytest.fixture
def private_broker() -> Iterator[PrivateRabbitMQ]:
    if os.geteuid() != 0:
        unavailable("starting a private RabbitMQ node needs root (it runs as the rabbitmq user)")
    # Not tmp_path: pytest's folders are private to root, and the node runs as the rabbitmq user.
    root = Path(tempfile.mkdtemp(prefix="bloodbank-broker-"))
    root.chmod(0o755)
    broker = PrivateRabbitMQ(root)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(root, ignore_errors=True)


async def test_broker_restart_mid_stream_loses_nothing_confirmed(
    private_broker: PrivateRabbitMQ, tmp_path: Path
) -> None:
    """The broker restarts while events flow: publishers recover, consumers resume, nothing confirmed is lost."""
    url = private_broker.url
    handled: set[str] = set()
    calls = 0

    async def handle(event: Event) -> None:
        nonlocal calls
        calls += 1
        handled.add(event.event_id)

    settings = BloodbankSettings(broker_url=url, data_dir=tmp_path / "bus", publish_timeout=60)
    bus = await Bus.start(settings, transport=RabbitMQTransport(url, connection_name="restart-test"))
    try:
        await bus.subscribe("faults.restart", ["retail.#"], handle)
        envelopes = offers(6_000)
        publishing = asyncio.create_task(publish_all(bus, envelopes, batch=100))
        while len(handled) < 1_500:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(private_broker.stop)
        await asyncio.sleep(1)
        await asyncio.to_thread(private_broker.start)
        accepted = await publishing
        async with asyncio.timeout(120):
            while not accepted <= handled:
                await asyncio.sleep(0.2)
    finally:
        await bus.close()
    tally = Tally(accepted, handled, set(), calls)
    print(tally.report())  # noqa: T201
    assert len(accepted) == 6_000
    assert tally.lost == set()
