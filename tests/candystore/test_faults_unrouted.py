"""Nothing confirmed into a void: events the gateway accepts before Candystore's first start are all stored.

A fresh deployment on RabbitMQ whose gateway starts first: its topology holds the store's
queue, so the events it confirms wait there (none in ``unrouted.all``) until Candystore,
on PostgreSQL, starts and stores every one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from bloodbank import BloodbankSettings, Bus
from bloodbank.gateway import create_gateway
from bloodbank.topology import STORE_QUEUE, UNROUTED_QUEUE
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from candystore.store.queries import EventFilter
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually
from tests.conftest import PostgresSchema

pytestmark = [pytest.mark.faults, pytest.mark.rabbitmq, pytest.mark.postgres]

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
EVENTS = 1000
BATCH = 100


def offers(start: int) -> list[dict[str, Any]]:
    return [
        {"event_type": OFFER_TYPE, "payload": {**OFFER, "product_id": f"SKU-{index}"}}
        for index in range(start, start + BATCH)
    ]


async def test_events_accepted_before_the_store_first_starts_are_all_stored(
    rabbitmq_url: str, postgres_schema: PostgresSchema, tmp_path: Path
) -> None:
    """1,000 events accepted by a gateway on a fresh broker, then Candystore started: all 1,000 stored, once each."""
    settings = BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path / "gateway", publish_timeout=30)
    gateway = create_gateway(settings)
    await gateway.state.gateway.start()
    accepted: list[str] = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://localhost", timeout=60
        ) as client:
            for start in range(0, EVENTS, BATCH):
                answer = await client.post("/events/batch", json=offers(start))
                assert answer.status_code == 200, answer.text
                results = answer.json()["results"]
                assert {result["status"] for result in results} == {"accepted"}
                accepted += [result["event_id"] for result in results]
        transport = gateway.state.gateway.bus.transport
        assert await transport.queue_depth(UNROUTED_QUEUE) == 0
        assert await transport.queue_depth(STORE_QUEUE.name) == EVENTS
    finally:
        await gateway.state.gateway.stop()

    bus = await Bus.start(BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path / "store"))
    store_settings = CandystoreSettings(
        database_url=postgres_schema.sqlalchemy_url, database_schema=postgres_schema.name, data_dir=tmp_path
    )
    candystore = CandystoreService(store_settings, bus)
    await candystore.start()
    try:
        await eventually(lambda: _stored_count(candystore, EVENTS), timeout=60)
        missing = [event_id for event_id in accepted if await candystore.store.get(event_id) is None]
        assert missing == []
        assert await bus.transport.queue_depth(STORE_QUEUE.name) == 0
        assert candystore.registry.get_sample_value("candystore_unrouted_total") == 0.0
    finally:
        await candystore.stop(timeout=30)
        await bus.close(timeout=10)


async def _stored_count(candystore: CandystoreService, expected: int) -> bool:
    return await candystore.store.count(EventFilter()) >= expected
