"""Fault injection on the ingest path: a killed ingestor, cut database connections, a crash between commit and ack.

The ingestor runs as its own process (:mod:`tests.candystore.fault_ingestor`) on RabbitMQ
and PostgreSQL. Each test counts by id: every accepted event is stored exactly once,
none is lost, none dead-lettered. Slow by nature: marked ``faults`` (CI runs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url

from bloodbank import BloodbankSettings, Bus, build_envelope
from bloodbank.topology import DEAD_LETTER_QUEUE
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore import CandystoreSettings
from candystore.ingest import CONSUMER
from candystore.store.migrate import upgrade
from holyfields import default_catalog
from tests.candystore.conftest import Database
from tests.candystore.fault_ingestor import CRASH_STATUS
from tests.candystore.tcp_proxy import TcpProxy
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, PostgresSchema

pytestmark = [pytest.mark.faults, pytest.mark.rabbitmq, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "faults", "type": "system", "app": "candystore-faults"}
STARTUP_TIMEOUT = 60.0
"""Seconds the ingestor process may take to connect and say it is ready."""


def offers(count: int) -> list[dict[str, Any]]:
    return [
        build_envelope("retail.offer.surfaced.v1", {**OFFER, "product_id": f"SKU-{index}"}, source=SOURCE)
        for index in range(count)
    ]


class IngestorProcess:
    """Candystore's ingestor as a separate process that can be SIGKILLed, crash on purpose and start again."""

    def __init__(self, broker_url: str, schema: PostgresSchema, log_path: Path) -> None:
        self.broker_url, self.schema, self.log_path = broker_url, schema, log_path
        self.application_name = f"candystore-faults-{schema.name}"  # how the test finds its database sessions
        self.database_url = schema.sqlalchemy_url
        self.process: subprocess.Popen[str] | None = None
        self.metrics_port = 0

    async def start(self, *, crash_after_batches: int | None = None) -> None:
        command = [
            sys.executable,
            "-m",
            "tests.candystore.fault_ingestor",
            self.broker_url,
            self.database_url,
            self.schema.name,
            self.application_name,
        ]
        if crash_after_batches is not None:
            command += ["--crash-after-batches", str(crash_after_batches)]
        environment = {key: value for key, value in os.environ.items() if not key.startswith("CANDYSTORE_")}
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; the wait below is bounded
                command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), STARTUP_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"the ingestor did not get ready within {STARTUP_TIMEOUT:g} s; see {self.log_path}")
        word, _, port = line.strip().partition(" ")
        assert word == "ready", f"the ingestor exited before it was ready: {self.log_tail()}"
        self.metrics_port = int(port)
        self.process.stdout.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    async def exited(self, *, timeout: float) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)
        except TimeoutError:
            pytest.fail(f"the ingestor did not exit within {timeout:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    async def counted(self, outcome: str) -> float:
        """``candystore_store_total{outcome}`` as the running process serves it."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "candystore_store_total" and sample.labels.get("outcome") == outcome:
                    return sample.value
        return 0.0

    def log_lines(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def log_tail(self) -> str:
        return self.log_path.read_text()[-2000:] if self.log_path.exists() else "(no log)"


class Rows:
    """What the test schema holds, read over a connection of the test's own."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def count(self) -> int:
        return int(await self.connection.fetchval("SELECT count(*) FROM events"))

    async def ids(self) -> tuple[int, set[str]]:
        """The number of rows, and their distinct event ids."""
        rows = await self.connection.fetch("SELECT event_id::text AS event_id FROM events")
        return len(rows), {row["event_id"] for row in rows}

    async def dead_letters(self) -> int:
        return int(await self.connection.fetchval("SELECT count(*) FROM dead_letters"))

    async def reached(self, threshold: int, *, timeout: float) -> None:
        """Wait until ``threshold`` rows are stored (a moment to inject the next fault)."""

        async def holds() -> bool:
            return await self.count() >= threshold

        async def short() -> str:
            return f"{await self.count()} events stored, waiting for {threshold}"

        await until(holds, timeout=timeout, failure=short)

    async def all_stored(self, accepted: set[str], *, timeout: float) -> None:
        """Wait until every accepted id is stored; fail saying how many are missing."""
        await until(lambda: self._holds(accepted), timeout=timeout, failure=lambda: self._missing(accepted))

    async def _holds(self, accepted: set[str]) -> bool:
        return await self.count() >= len(accepted) and accepted <= (await self.ids())[1]

    async def _missing(self, accepted: set[str]) -> str:
        rows, ids = await self.ids()
        return f"{len(accepted - ids)} of {len(accepted)} accepted events not stored ({rows} rows)"


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float, failure: Callable[[], Awaitable[str]]) -> None:
    """Poll ``check`` until it holds; after ``timeout`` seconds fail with what ``failure`` says."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"after {timeout:g} s: {await failure()}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def rows(postgres_database: Database, postgres_schema: PostgresSchema) -> AsyncIterator[Rows]:
    """The test's PostgreSQL schema, migrated, and a connection of the test's own to read it."""
    store = postgres_database.store()
    try:
        await upgrade(store.engine)
    finally:
        await store.close()
    connection = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings, timeout=10)
    yield Rows(connection)
    await connection.close()


@pytest.fixture
def ingestor(rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path) -> Iterator[IngestorProcess]:
    process = IngestorProcess(rabbitmq_url, postgres_schema, tmp_path / "ingestor.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def bus(rabbitmq_url: str, tmp_path: Path) -> AsyncIterator[Bus]:
    """A publishing bus; Candystore's queue is declared first, so events published before the ingestor runs wait."""
    started = await Bus.start(
        BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path / "publisher"),
        transport=RabbitMQTransport(rabbitmq_url, connection_name="candystore-faults-publisher"),
    )
    await started.transport.declare_consumer(CONSUMER)
    yield started
    await started.close()


async def publish_all(bus: Bus, envelopes: list[dict[str, Any]], *, batch: int = 500) -> set[str]:
    """Publish in batches; the accepted ids are those the broker confirmed (RabbitMQ cannot say "routed" then)."""
    accepted: set[str] = set()
    for start in range(0, len(envelopes), batch):
        outcomes = await bus.publisher.publish_many(envelopes[start : start + batch])
        accepted.update(o.event_id for o in outcomes if o.ok and o.routed is not False and o.event_id)
    return accepted


async def assert_stored_exactly_once(rows: Rows, bus: Bus, accepted: set[str], sent: int) -> None:
    count, ids = await rows.ids()
    assert len(accepted) == sent, f"only {len(accepted)} of {sent} events were accepted by the broker"
    assert count == len(ids), f"{count - len(ids)} duplicate rows"
    assert ids == accepted, f"lost {len(accepted - ids)}, unexpected {len(ids - accepted)}"
    assert await rows.dead_letters() == 0
    assert await bus.transport.queue_depth(DEAD_LETTER_QUEUE) == 0

    async def drained() -> bool:  # redelivered duplicates may still wait after the last id is stored
        return await bus.transport.queue_depth(CONSUMER.name) == 0

    async def waiting() -> str:
        return f"{await bus.transport.queue_depth(CONSUMER.name)} deliveries still wait in {CONSUMER.name}"

    await until(drained, timeout=30, failure=waiting)


async def test_ingestor_killed_three_times_stores_every_event_once(
    bus: Bus, ingestor: IngestorProcess, rows: Rows
) -> None:
    """20,000 events while the ingestor is SIGKILLed three times: each accepted id is stored exactly once."""
    envelopes = offers(20_000)
    await ingestor.start()
    publishing = asyncio.create_task(publish_all(bus, envelopes))
    try:
        for threshold in (3_000, 8_000, 13_000):
            await rows.reached(threshold, timeout=60)
            ingestor.kill()
            await ingestor.start()
        accepted = await publishing
    finally:
        if not publishing.done():  # a failed wait: stop publishing before the bus closes
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publishing
    await rows.all_stored(accepted, timeout=90)
    await assert_stored_exactly_once(rows, bus, accepted, len(envelopes))


async def test_cut_database_connections_are_survived_without_a_restart(
    bus: Bus, ingestor: IngestorProcess, rows: Rows, postgres_schema: PostgresSchema
) -> None:
    """The ingestor's PostgreSQL sessions are terminated again and again mid-stream: it recovers by itself."""
    envelopes = offers(8_000)
    accepted = await publish_all(bus, envelopes)  # a full queue: the ingestor writes batch after batch
    await ingestor.start()
    assert ingestor.process is not None
    admin = await asyncpg.connect(postgres_schema.dsn, timeout=10)
    terminated = 0
    try:
        for threshold in (1_000, 2_500, 4_000, 5_500):
            await rows.reached(threshold, timeout=60)
            for _ in range(10):  # a burst: some land in the middle of a batch's transaction
                terminated += await terminate_sessions(admin, ingestor.application_name)
                await asyncio.sleep(0.03)
    finally:
        await admin.close()
    await rows.all_stored(accepted, timeout=90)
    assert ingestor.process.poll() is None, "the ingestor exited: it was to recover on its own"
    assert terminated > 0
    held = [line for line in ingestor.log_lines() if line.get("event") == "batch not written; holding its deliveries"]
    assert held, f"no batch was interrupted by the {terminated} terminated sessions"
    for line in held:  # translated at the store's boundary: a transient outage, not an unexpected failure
        assert line["level"] == "warning", line
        assert line["error"].startswith("the database is unavailable"), line
    await assert_stored_exactly_once(rows, bus, accepted, len(envelopes))


async def terminate_sessions(admin: asyncpg.Connection, application_name: str) -> int:
    """Terminate the database sessions named ``application_name`` (only the ingestor's); how many there were."""
    return int(
        await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid <> pg_backend_pid()) AS terminated",
            application_name,
        )
    )


async def test_crash_between_commit_and_ack_is_absorbed_as_duplicates(
    bus: Bus, ingestor: IngestorProcess, rows: Rows
) -> None:
    """The ingestor dies after a commit, before its acks: the redelivered events are duplicates, stored once."""
    envelopes = offers(3_000)
    accepted = await publish_all(bus, envelopes)
    await ingestor.start(crash_after_batches=3)
    assert await ingestor.exited(timeout=60) == CRASH_STATUS
    at_crash = await rows.count()
    assert 0 < at_crash < len(accepted)
    await ingestor.start()
    await rows.all_stored(accepted, timeout=60)

    async def absorbed() -> bool:  # the crashed batch came back and was acknowledged as duplicates
        return await ingestor.counted("duplicate") > 0

    async def none_absorbed() -> str:
        return f"no duplicate counted; stored={await ingestor.counted('stored')}"

    await until(absorbed, timeout=30, failure=none_absorbed)
    assert await ingestor.counted("stored") == len(accepted) - at_crash  # nothing written twice
    await assert_stored_exactly_once(rows, bus, accepted, len(envelopes))


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    running = TcpProxy(POSTGRES_HOST, POSTGRES_PORT)
    await running.start()
    yield running
    await running.cut()


async def test_database_outage_holds_deliveries_and_resumes_by_itself(
    bus: Bus, ingestor: IngestorProcess, rows: Rows, proxy: TcpProxy
) -> None:
    """With the database unreachable, deliveries are held (no ack, no requeue loop, no dead letter), then stored."""
    ingestor.database_url = make_url(ingestor.database_url).set(host="127.0.0.1", port=proxy.port).render_as_string()
    await ingestor.start()
    before = await publish_all(bus, offers(500))
    await rows.all_stored(before, timeout=60)
    await proxy.cut()
    during = await publish_all(bus, offers(2_500))
    ready = 2_500 - CandystoreSettings().prefetch  # the ingestor holds its prefetch, unacknowledged

    async def holding() -> bool:
        return await bus.transport.queue_depth(CONSUMER.name) == ready

    async def not_holding() -> str:
        return f"{await bus.transport.queue_depth(CONSUMER.name)} deliveries ready in the queue, expected {ready}"

    await until(holding, timeout=30, failure=not_holding)
    await asyncio.sleep(3)  # an outage of some length: a requeue loop or an ack would show in the counts below
    assert await bus.transport.queue_depth(CONSUMER.name) == ready  # nothing acknowledged, nothing given back
    assert await bus.transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    assert await rows.count() == len(before)
    attempts = [
        line for line in ingestor.log_lines() if line.get("event") == "batch not written; holding its deliveries"
    ]
    assert 1 <= len(attempts) <= 10, f"{len(attempts)} attempts to write during the outage: a hot loop"
    assert all(line["error"].startswith("the database is unavailable") for line in attempts), attempts
    await proxy.restore()
    await rows.all_stored(before | during, timeout=60)
    assert ingestor.process is not None
    assert ingestor.process.poll() is None, "the ingestor exited"
    assert any(line.get("event") == "database back; batch written" for line in ingestor.log_lines())
    assert not any(line.get("event") == "releasing deliveries not written" for line in ingestor.log_lines())
    await assert_stored_exactly_once(rows, bus, before | during, 3_000)
