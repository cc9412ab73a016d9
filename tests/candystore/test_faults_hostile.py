"""Hostile traffic mixed into ordinary traffic never holds ingestion and never loses an event.

10,000 events go through the gateway into Candystore on RabbitMQ and PostgreSQL, 2% of
them hostile: half sent to the gateway (answered 4xx), half published to the exchange by
a client that skips the gateway (dead-lettered by Candystore with the reason). Every valid
event is stored; ingestion never holds a batch while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx2 as httpx
import pytest

from bloodbank import BloodbankSettings, Bus, uuid7
from bloodbank.gateway import create_gateway
from bloodbank.topology import MAIN_EXCHANGE
from candystore import CandystoreSettings
from candystore.service import CandystoreService
from candystore.store.dead_letters import DeadLetterFilter
from holyfields import default_catalog
from tests.conftest import PostgresSchema

pytestmark = [pytest.mark.faults, pytest.mark.rabbitmq, pytest.mark.postgres]

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER: dict[str, Any] = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
TOTAL = 10_000
HOSTILE_EVERY = 50  # 2%
BATCH = 100
HELD_AT_MOST = 10.0
"""Seconds a delivery may stay in Candystore's hands: far beyond a healthy batch, far below a held one."""


def valid_envelope(index: int) -> dict[str, Any]:
    return {
        "event_id": uuid7(),
        "event_type": OFFER_TYPE,
        "timestamp": "2026-11-30T12:00:00.123456Z",
        "version": "1.0.0",
        "source": {"host": "faults", "type": "system", "app": "hostile-mix"},
        "correlation_ids": [],
        "payload": {**OFFER, "product_id": f"SKU-{index}"},
    }


def _with(index: int, **changes: Any) -> bytes:
    envelope = valid_envelope(index)
    for path, value in changes.items():
        holder: Any = envelope
        *parents, last = path.split("__")
        for part in parents:
            holder = holder[part]
        holder[last] = value
    return json.dumps(envelope).encode()


def hostile_bodies(index: int) -> list[bytes]:
    """The cases of the issue, and what a property test of the envelope found at the edges."""
    return [
        _with(index, timestamp="0001-01-01T00:00:00+14:00"),
        _with(index, timestamp="9999-12-31T23:59:59-14:00"),
        _with(index, timestamp="2026-12-31T23:59:60Z"),
        _with(index, timestamp="2026-11-30T12:00:00.1234567Z"),
        _with(index, payload__product_id="SKU\u0000"),
        _with(index, source__meta={"deep": json.loads("[" * 70 + "]" * 70)}),
        _with(index, source__meta={"big": 10**400}),
        b'{"event_type": "retail.offer.surfaced.v1", ' + _with(index)[1:],  # a duplicate key
        b"[" * 10_000 + b"]" * 10_000,
        b"not json at all",
    ]


@dataclass
class Platform:
    gateway: httpx.AsyncClient
    candystore: CandystoreService
    broker_url: str


@pytest.fixture
async def platform(rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path) -> AsyncIterator[Platform]:
    bus = await Bus.start(BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path, publish_timeout=10.0))
    candystore = CandystoreService(
        CandystoreSettings(database_url=postgres_schema.sqlalchemy_url, database_schema=postgres_schema.name), bus
    )
    await candystore.start()
    app = create_gateway(bus=bus)
    await app.state.gateway.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=60)
    try:
        yield Platform(client, candystore, rabbitmq_url)
    finally:
        await client.aclose()
        await candystore.stop(timeout=30)
        await bus.close(timeout=10)


async def _publish_around_the_gateway(broker_url: str, bodies: list[bytes]) -> None:
    """What a client that skips the gateway sends: raw bodies on the main exchange, confirmed."""
    connection = await aio_pika.connect_robust(broker_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(MAIN_EXCHANGE, ensure=True)
        for body in bodies:
            message = aio_pika.Message(
                body, message_id=str(uuid.uuid4()), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await exchange.publish(message, routing_key=OFFER_TYPE)


async def _watch_held(candystore: CandystoreService, stop: asyncio.Event) -> tuple[bool, float]:
    """Whether the ingestor ever held a batch, and the oldest age of a delivery in its hands."""
    batches = candystore.ingestor.batches
    loop = asyncio.get_running_loop()
    failed, oldest = False, 0.0
    while not stop.is_set():
        failed = failed or batches.failing
        since = batches.oldest_held_since
        if since is not None:
            oldest = max(oldest, loop.time() - since)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return failed, oldest


async def _eventually(check: Any, *, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.2)


async def test_hostile_events_are_refused_or_dead_lettered_and_every_valid_one_is_stored(platform: Platform) -> None:
    """2% hostile events among 10,000: each answered 4xx or dead-lettered with a reason, every valid one stored."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_held(platform.candystore, stop))
    valid_ids: list[str] = []
    refused = 0
    around: list[bytes] = []
    cases = 0
    for start in range(0, TOTAL, BATCH):
        batch = []
        for index in range(start, start + BATCH):
            if index % HOSTILE_EVERY:
                envelope = valid_envelope(index)
                valid_ids.append(envelope["event_id"])
                batch.append(envelope)
                continue
            bodies = hostile_bodies(index)
            body = bodies[cases % len(bodies)]
            cases += 1
            if cases % 2:
                answer = await platform.gateway.post(
                    "/events", content=body, headers={"content-type": "application/json"}
                )
                assert 400 <= answer.status_code < 500, (body[:80], answer.status_code, answer.text[:300])
                refused += 1
            else:
                around.append(body)
        answer = await platform.gateway.post("/events/batch", json=batch)
        assert answer.status_code == 200, answer.text[:300]
        assert {item["status"] for item in answer.json()["results"]} == {"accepted"}
    await _publish_around_the_gateway(platform.broker_url, around)
    store = platform.candystore.store

    async def all_stored() -> bool:
        return await store.count() >= len(valid_ids)

    async def all_dead_lettered() -> bool:
        page = await store.dead_letters(DeadLetterFilter(), limit=1000)
        return len(page.items) >= len(around)

    await _eventually(all_stored, timeout=180, what="storing every valid event")
    await _eventually(all_dead_lettered, timeout=60, what="dead-lettering every hostile event")
    stop.set()
    ever_failed, oldest = await watcher
    assert refused + len(around) == TOTAL // HOSTILE_EVERY
    assert await store.count() == len(valid_ids)
    stored = await store.query(limit=len(valid_ids) + 1)
    assert sorted(item["event_id"] for item in stored.items) == sorted(valid_ids)
    letters = (await store.dead_letters(DeadLetterFilter(), limit=1000)).items
    assert len(letters) == len(around)
    assert all(letter.consumer == "candystore.events" and letter.error for letter in letters), letters[:3]
    assert not ever_failed, "ingestion held a batch"
    assert oldest < HELD_AT_MOST, f"a delivery stayed {oldest:.1f} s in the ingestor's hands"
