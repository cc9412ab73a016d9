"""Fault injection on outbound deliveries: the delivering process killed mid-request, or crashing between the
record of a success and its acknowledgement, on RabbitMQ and PostgreSQL.

The delivery manager runs as its own process (this module, run with ``python -m``), the receiver in
the test. Each test counts by event id: every event reaches the receiver with a 2xx and is recorded
(nothing lost, nothing dead-lettered), and no request for an event arrives after its success was
recorded (nothing sent twice after a success). Slow by nature: marked ``faults``.

Run as ``python -m tests.candystore.test_deliveries_faults BROKER_URL DATABASE_URL SCHEMA URL SECRET``;
``--crash-after-records N`` exits with status 9 right after the N-th batch of delivery records is
committed, before any of its deliveries is acknowledged (printing the ids of that batch first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog

from bloodbank import BloodbankSettings, Bus
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore import CandystoreSettings, EventStore
from candystore.deliveries import DeliveryManager, Subscription, SubscriptionCatalog, SubscriptionSource, new_secret
from candystore.store.migrate import upgrade
from candystore.store.subscriptions import DeliveryRecord
from tests.bloodbank.waiting import eventually
from tests.candystore.test_deliveries import Receiver, always, offers, receiving
from tests.conftest import PostgresSchema

pytestmark = [pytest.mark.faults, pytest.mark.rabbitmq, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
CRASH_STATUS = 9
STARTUP_TIMEOUT = 60.0
SUBSCRIPTION = "faults"


# --- the delivering process ------------------------------------------------------------------------


class CrashingStore(EventStore):
    """The real store, whose process exits right after the ``crash_after``-th committed batch of records."""

    crash_after: int | None = None
    committed = 0

    async def record_deliveries(self, records: Sequence[DeliveryRecord]) -> None:
        await super().record_deliveries(records)  # returns once committed
        if records:
            self.committed += 1
            if self.committed == self.crash_after:
                print("crashing", *(record.event_id for record in records), flush=True)  # noqa: T201
                os._exit(CRASH_STATUS)  # no ack leaves the process, no cleanup runs


async def deliver(options: argparse.Namespace) -> None:
    settings = CandystoreSettings(
        database_url=options.database_url,
        delivery_concurrency=4,
        delivery_jitter=0,
        delivery_retry_delays=(0.05, 0.05),
        delivery_timeout=5,
    )
    store = CrashingStore.open(
        settings.sqlalchemy_url, connect_args={"server_settings": {"search_path": options.schema}}
    )
    store.crash_after = options.crash_after_records
    bus = await Bus.start(
        BloodbankSettings(broker_url=options.broker_url, data_dir=Path(options.data_dir), redis_url=None),
        transport=RabbitMQTransport(options.broker_url, connection_name="deliveries-faults"),
    )
    subscription = Subscription(
        name=SUBSCRIPTION,
        patterns=("retail.#",),
        url=options.url,
        secret=options.secret,
        source=SubscriptionSource.FILE,
    )
    manager = DeliveryManager(SubscriptionCatalog(store, [subscription]), bus, settings=settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await manager.start()
    print("ready", flush=True)  # noqa: T201 - the test waits for this line
    await stop.wait()
    await manager.stop(timeout=10)
    await bus.close(timeout=10)
    await store.close()


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.candystore.test_deliveries_faults")
    for name in ("broker_url", "database_url", "schema", "url", "secret", "data_dir"):
        parser.add_argument(name)
    parser.add_argument("--crash-after-records", type=int, default=None, metavar="N")
    asyncio.run(deliver(parser.parse_args(argv)))


# --- the tests -----------------------------------------------------------------------------------


class DeliveringProcess:
    """The delivery manager as a separate process that can be SIGKILLed, crash on purpose and start again."""

    def __init__(self, broker_url: str, schema: PostgresSchema, url: str, secret: str, tmp_path: Path) -> None:
        self.arguments = [broker_url, schema.sqlalchemy_url, schema.name, url, secret, str(tmp_path / "bus")]
        self.log_path = tmp_path / "delivering.log"
        self.process: subprocess.Popen[str] | None = None

    async def start(self, *, crash_after_records: int | None = None) -> None:
        self._close_pipe()
        command = [sys.executable, "-m", "tests.candystore.test_deliveries_faults", *self.arguments]
        if crash_after_records is not None:
            command += ["--crash-after-records", str(crash_after_records)]
        environment = {key: value for key, value in os.environ.items() if not key.startswith("CANDYSTORE_")}
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the wait below is bounded
                command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), STARTUP_TIMEOUT)
        assert line.strip() == "ready", f"the process exited before it was ready: {self.log_path.read_text()[-2000:]}"

    async def crashed(self) -> list[str]:
        """The event ids of the batch it crashed after, once it exited with the crash status."""
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), 60)
        assert await asyncio.wait_for(asyncio.to_thread(self.process.wait), 30) == CRASH_STATUS
        word, *ids = line.split()
        assert word == "crashing", line
        return ids

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._close_pipe()


@asynccontextmanager
async def platform(rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path) -> AsyncIterator[Bus]:
    """A migrated schema and a publishing bus on the test's virtual host."""
    store = EventStore.open(
        postgres_schema.sqlalchemy_url, connect_args={"server_settings": postgres_schema.server_settings}
    )
    await upgrade(store.engine)
    await store.close()
    bus = await Bus.start(BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path / "publisher", redis_url=None))
    try:
        yield bus
    finally:
        await bus.close(timeout=10)


async def recorded(schema: PostgresSchema) -> dict[str, float]:
    """Each delivered event's id and when its success was recorded (seconds since the epoch)."""
    connection = await asyncpg.connect(schema.dsn, server_settings=schema.server_settings, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT event_id, delivered_at FROM deliveries WHERE subscription = $1", SUBSCRIPTION
        )
    finally:
        await connection.close()
    return {str(row["event_id"]): row["delivered_at"].timestamp() for row in rows}


async def dead_letter_count(bus: Bus) -> int:
    return await bus.transport.queue_depth("dlq.all")


def nothing_after_success(receiver: Receiver, delivered: dict[str, float]) -> None:
    for request in receiver.received:
        assert request.at <= delivered[request.webhook_id], f"{request.webhook_id} was sent again after its success"


async def publish_offers(bus: Bus, count: int) -> list[dict[str, Any]]:
    events = offers(count)
    outcomes = await bus.publisher.publish_many(events)
    assert all(outcome.ok for outcome in outcomes)
    return events


async def test_killed_mid_delivery_nothing_is_lost_and_nothing_sent_after_success(
    rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path
) -> None:
    """SIGKILL while requests are in flight; after a restart every event is delivered and recorded, and none
    reached the receiver after its success was recorded."""
    secret = new_secret()
    async with (
        receiving(Receiver(secret=secret, script=always(200, delay=0.2))) as receiver,
        platform(rabbitmq_url, postgres_schema, tmp_path) as bus,
    ):
        process = DeliveringProcess(rabbitmq_url, postgres_schema, receiver.url, secret, tmp_path)
        try:
            await process.start()
            events = await publish_offers(bus, 40)
            await eventually(lambda: len(receiver.received) >= 10 and receiver.in_flight > 0, timeout=60)
            process.kill()
            interrupted = receiver.in_flight
            await process.start()

            async def all_recorded() -> bool:
                return len(await recorded(postgres_schema)) == len(events)

            await eventually(all_recorded, timeout=120)
        finally:
            process.stop()
        delivered = await recorded(postgres_schema)
        assert await dead_letter_count(bus) == 0

    assert set(delivered) == {envelope["event_id"] for envelope in events}
    assert set(receiver.successes()) == set(delivered)
    assert all(request.verified for request in receiver.received)
    nothing_after_success(receiver, delivered)
    assert interrupted >= 1  # the kill did cut requests short


async def test_a_crash_after_the_record_and_before_the_ack_sends_nothing_again(
    rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path
) -> None:
    """The process exits right after committing a batch of records, before acknowledging: after a restart the
    broker redelivers those events, and none of them is sent again."""
    secret = new_secret()
    async with (
        receiving(Receiver(secret=secret, script=always(204, delay=0.05))) as receiver,
        platform(rabbitmq_url, postgres_schema, tmp_path) as bus,
    ):
        process = DeliveringProcess(rabbitmq_url, postgres_schema, receiver.url, secret, tmp_path)
        try:
            await process.start(crash_after_records=2)
            events = await publish_offers(bus, 30)
            crashed_batch = await process.crashed()
            await process.start()

            async def all_recorded() -> bool:
                return len(await recorded(postgres_schema)) == len(events)

            await eventually(all_recorded, timeout=120)
        finally:
            process.stop()
        delivered = await recorded(postgres_schema)
        assert await dead_letter_count(bus) == 0

    assert crashed_batch
    for event_id in crashed_batch:
        assert receiver.count(event_id) == 1, f"{event_id} was recorded, then sent again after the crash"
    assert set(delivered) == {envelope["event_id"] for envelope in events}
    nothing_after_success(receiver, delivered)


if __name__ == "__main__":
    # Logs on stderr: stdout carries only the lines the test reads.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    main(sys.argv[1:])
