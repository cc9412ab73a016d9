"""Candystore's `/health/ready` tells the truth: 503 with the reason while a writer is stuck or the broker blocks it.

The probe is served here as ``create_api`` serves it, over the service's store and its
:class:`~candystore.readiness.Readiness`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import msgspec
import pytest
from fastapi import FastAPI

from bloodbank import BloodbankSettings, Bus, build_envelope
from bloodbank.errors import BrokerUnavailable
from bloodbank.transport import OutgoingMessage
from candystore.api.errors import TRANSLATIONS
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from gumdrop.health import StoreReadiness, health_routes
from gumdrop.http_errors import install_error_handlers
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually
from tests.broker_alarm import memory_alarm
from tests.candystore.api_helpers import client_for
from tests.conftest import PostgresSchema

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "readiness-tests"}
MAX_HELD = 0.5
"""Seconds a delivery may be held before the probe says so: short, so that the test need not wait long."""
BLOCKED = (
    "broker: RabbitMQ has blocked publishing (a memory or disk alarm); dead letters, retries and replays wait "
    "until it clears: free memory or disk space on the broker"
)


def probe_app(service: CandystoreService) -> FastAPI:
    """`/health/ready` and `/metrics` over the service, as its API mounts them."""
    app = FastAPI()
    install_error_handlers(app, service="Candystore", translations=TRANSLATIONS)
    readiness = StoreReadiness(service.store.ping, lambda: service.bus.transport.connected, service.readiness.problems)
    app.include_router(health_routes(readiness, service.registry, ready_when="ready"))
    return app


@asynccontextmanager
async def running(settings: CandystoreSettings, bloodbank: BloodbankSettings) -> AsyncIterator[CandystoreService]:
    bus = await Bus.start(bloodbank)
    service = CandystoreService(settings, bus)
    await service.start()
    try:
        yield service
    finally:
        await service.stop(timeout=10)
        await bus.close(timeout=5)


@pytest.mark.postgres
async def test_not_ready_while_a_writer_is_stuck_and_ready_again_once_it_commits(
    postgres_schema: PostgresSchema, tmp_path: Path
) -> None:
    """A batch write blocked by a table lock makes the probe 503 naming the writer; the gauge shows the age."""
    settings = CandystoreSettings(
        database_url=postgres_schema.sqlalchemy_url,
        database_schema=postgres_schema.name,
        data_dir=tmp_path,
        batch_wait=0.01,
        ready_max_held_seconds=MAX_HELD,
    )
    async with (
        running(settings, BloodbankSettings(data_dir=tmp_path)) as service,
        client_for(probe_app(service)) as client,
    ):
        assert (await client.get("/health/ready")).status_code == 200
        locker = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings)
        try:
            locking = locker.transaction()
            await locking.start()
            await locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
            event_id = await service.bus.publish(OFFER_TYPE, OFFER)
            await eventually(lambda: bool(service.readiness.problems()), timeout=30)
            ready = await client.get("/health/ready")
            held = service.registry.get_sample_value("candystore_ingest_oldest_held_seconds")
            await locking.rollback()
        finally:
            await locker.close()
        assert ready.status_code == 503
        [problem] = ready.json()["errors"]
        assert problem["path"] is None
        assert problem["message"].startswith("candystore.events: a writer is stuck; a delivery has been in hand ")
        assert problem["message"].endswith(
            f"s, longer than CANDYSTORE_READY_MAX_HELD_SECONDS={MAX_HELD:g}, not written and settled"
        )
        assert held is not None
        assert held > MAX_HELD
        await eventually(lambda: _stored(service, event_id))
        await eventually(lambda: not service.readiness.problems())
        assert (await client.get("/health/ready")).status_code == 200
        assert service.registry.get_sample_value("candystore_ingest_oldest_held_seconds") == 0.0


@pytest.mark.rabbitmq
async def test_not_ready_while_the_broker_blocks_publishing(rabbitmq_url: str, tmp_path: Path) -> None:
    """Once RabbitMQ blocks Candystore's connection, the probe is 503 saying so, and 200 after the alarm."""
    settings = CandystoreSettings(data_dir=tmp_path / "store", batch_wait=0.01)
    bloodbank = BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path)
    async with running(settings, bloodbank) as service, client_for(probe_app(service)) as client:
        assert (await client.get("/health/ready")).status_code == 200
        with memory_alarm(rabbitmq_url):
            event = build_envelope(OFFER_TYPE, OFFER, source=SOURCE)  # the connection is blocked as it publishes
            copy = OutgoingMessage(msgspec.json.encode(event), OFFER_TYPE, event["event_id"])
            with pytest.raises(BrokerUnavailable):
                await service.bus.transport.publish_batch([copy], timeout=1)
            await eventually(lambda: service.bus.transport.blocked)
            ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"errors": [{"path": None, "message": BLOCKED}]}
        await eventually(lambda: not service.bus.transport.blocked)
        assert (await client.get("/health/ready")).status_code == 200


async def _stored(service: CandystoreService, event_id: str) -> bool:
    return await service.store.get(event_id) is not None
