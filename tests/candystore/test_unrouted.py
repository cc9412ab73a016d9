"""What the broker confirmed into ``unrouted.all`` ends as an open dead letter with reason ``unrouted``.

An event lands there only when no queue was bound to it: here the bus's topology leaves
out the store's queue, as on a broker where it was deleted. Run on both transports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bloodbank import BloodbankSettings, Bus
from bloodbank.topology import UNROUTED_QUEUE
from bloodbank.transport import Transport
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from candystore.store import DeadLetterState
from candystore.store.dead_letters import DeadLetterFilter
from candystore.unrouted import unrouted_error
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually
from tests.candystore.api_helpers import client_for

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def storeless_transport(request: pytest.FixtureRequest, tmp_path: Path) -> Transport:
    """A transport whose topology lacks the store's queue: what it publishes goes to unrouted.all."""
    if request.param == "rabbitmq":
        from bloodbank.transport.rabbitmq import RabbitMQTransport  # noqa: PLC0415 - only for this parameter

        url = request.getfixturevalue("rabbitmq_url")
        return RabbitMQTransport(url, connection_name=request.node.name, shared_consumers=())
    return EmbeddedTransport(tmp_path / "bus.sqlite3", shared_consumers=())


@pytest.fixture
async def bus(storeless_transport: Transport, tmp_path: Path) -> AsyncIterator[Bus]:
    started = await Bus.start(BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0), transport=storeless_transport)
    yield started
    await started.close(timeout=5)


async def test_unrouted_event_becomes_an_open_dead_letter_that_replays_into_the_store(bus: Bus, tmp_path: Path) -> None:
    """An event in unrouted.all is kept as an open `unrouted` letter, counted, and stored once replayed."""
    event_id = await bus.publish(OFFER_TYPE, OFFER)
    await eventually(lambda: _depth(bus, UNROUTED_QUEUE, 1))
    service = CandystoreService(CandystoreSettings(data_dir=tmp_path / "store", batch_wait=0.01), bus)
    await service.start()
    try:
        await eventually(lambda: _unrouted_letters(service, 1))
        [letter] = (await service.store.dead_letters(DeadLetterFilter(reason="unrouted"), limit=10)).items
        assert (letter.event_id, letter.event_type, letter.consumer) == (event_id, OFFER_TYPE, UNROUTED_QUEUE)
        assert letter.error == unrouted_error(OFFER_TYPE)
        assert letter.error.startswith("unrouted: confirmed by the broker while no queue was bound to ")
        assert letter.state is DeadLetterState.OPEN
        assert service.registry.get_sample_value("candystore_unrouted_total") == 1.0
        assert await bus.transport.queue_depth(UNROUTED_QUEUE) == 0

        async with client_for(service.api) as client:
            replayed = await client.post("/dlq/replay", json={"actor": "ops", "ids": [letter.id]})
            assert replayed.json()["replayed"] == 1, replayed.text
            await eventually(lambda: _stored(service, event_id))
            stored = await client.get(f"/events/{event_id}")
        assert stored.status_code == 200
        assert stored.json()["payload"] == OFFER
    finally:
        await service.stop(timeout=10)


async def _depth(bus: Bus, queue: str, expected: int) -> bool:
    return await bus.transport.queue_depth(queue) == expected


async def _stored(service: CandystoreService, event_id: str) -> bool:
    return await service.store.get(event_id) is not None


async def _unrouted_letters(service: CandystoreService, expected: int) -> bool:
    page = await service.store.dead_letters(DeadLetterFilter(reason="unrouted"), limit=10)
    return len(page.items) == expected
