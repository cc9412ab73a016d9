"""``GET /consumers`` over each transport: the embedded broker and a real RabbitMQ (a private virtual host).

One scenario for both: a consumer holding two deliveries, one retried into its first tier,
one still ready, an event no queue takes in ``unrouted.all``, and dead letters in
Candystore's table. The figures each broker cannot tell (unacknowledged counts and rates
without RabbitMQ's management API) are null, never a made-up zero.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec, Publisher, build_envelope
from bloodbank.topology import Headers
from bloodbank.transport import Delivery, Transport
from bloodbank.transport.embedded import EmbeddedTransport
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore.api import create_api
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store.dead_letters import DeadLetter
from gumdrop.access_control import Access
from holyfields import default_catalog, default_validator
from tests.bloodbank.waiting import eventually
from tests.candystore.api_helpers import SOURCE, client_for, offer

CHECKER = ConsumerSpec("pricing.checker", ("retail.#",), retry_delays=(60.0, 120.0))  # tiers that outlast a test
N8N_TYPE = "n8n.workflow.started.v1"
N8N = default_catalog().get(N8N_TYPE).examples[0]  # type: ignore[union-attr]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def transport(request, tmp_path: Path) -> AsyncIterator[Transport]:
    """A connected transport with the shared topology (no consumer bound to `#`) and the checker's queues."""
    broker: Transport
    if request.param == "embedded":
        broker = EmbeddedTransport(tmp_path / "bus.sqlite3", shared_consumers=())
    else:
        broker = RabbitMQTransport(request.getfixturevalue("rabbitmq_url"), shared_consumers=())
    await broker.connect()
    await broker.declare_topology()
    await broker.declare_consumer(CHECKER)
    yield broker
    await broker.close()


@pytest.fixture
async def client(store, transport, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    api = create_api(
        store,
        settings=CandystoreSettings(data_dir=tmp_path),
        hub=LiveHub(),
        registry=CollectorRegistry(),
        access=Access.open(),
        transport=transport,
        consumers=[CHECKER],
    )
    async with client_for(api) as http:
        yield http


def letter(consumer: str, error: str, marker: int) -> DeadLetter:
    return DeadLetter(
        body=b"{}", routing_key=f"dlq.{consumer}", headers={"n": marker}, consumer=consumer, error=error, attempts=3
    )


async def busy_checker(transport: Transport) -> list[Delivery]:
    """Four offers for the checker: one retried into its first tier, two held unsettled, one left ready."""
    publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)
    for _ in range(4):
        await publisher.publish_envelope(offer())
    await publisher.publish_envelope(build_envelope(N8N_TYPE, N8N, source=SOURCE))  # no queue takes it
    held: list[Delivery] = []
    await transport.consume(CHECKER, held.append, prefetch=2)
    await eventually(lambda: len(held) == 2)
    await held[0].retry(delay=60.0, headers={Headers.ATTEMPTS: 1})
    await eventually(lambda: len(held) == 3)
    return held


async def test_consumers_lists_depths_tiers_dead_letters_and_unrouted(store, client, transport) -> None:
    """Each consumer queue shows ready, unsettled, consumers, tiers and open dead letters by reason."""
    await store.keep_dead_letters(
        [
            letter("pricing.checker", "RuntimeError: boom", 1),
            letter("pricing.checker", "RuntimeError: other", 2),
            letter("pricing.checker", "TimeoutError: slow", 3),
            letter("stock.sync", "KeyError: 'sku'", 4),
            letter("pricing.checker", "unrouted", 5),
        ]
    )
    gone = (await store.dead_letters(limit=10)).items
    await store.discard_dead_letter(next(row.id for row in gone if row.error == "unrouted"), actor="t", reason="x")
    await busy_checker(transport)
    embedded = transport.name == "embedded"

    async def settled() -> bool:
        answer = (await client.get("/consumers")).json()
        checker = answer["consumers"][0] if answer["consumers"] else {}
        return checker.get("ready") == 1 and checker.get("retry_tiers", [{}])[0].get("messages") == 1

    await eventually(settled)
    response = await client.get("/consumers")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["reading"] == ("embedded" if embedded else "passive")
    assert body["problem"] is None
    assert body["consumers"] == [
        {
            "name": "pricing.checker",
            "ready": 1,
            "unacked": 2 if embedded else None,
            "consumers": 1,
            "publish_rate": None,
            "deliver_rate": None,
            "ack_rate": None,
            "retry_tiers": [
                {"delay_seconds": 60.0, "queue": "pricing.checker.retry.60s", "messages": 1},
                {"delay_seconds": 120.0, "queue": "pricing.checker.retry.120s", "messages": 0},
            ],
            "dead_letters": [{"reason": "RuntimeError", "count": 2}, {"reason": "TimeoutError", "count": 1}],
            "dead_letters_open": 3,
        }
    ]
    assert body["unrouted"] == {"name": "unrouted.all", "ready": 1, "unacked": 0 if embedded else None, "consumers": 0}
    assert body["dead_letter_queue"] == {
        "name": "dlq.all",
        "ready": 0,
        "unacked": 0 if embedded else None,
        "consumers": 0,
    }
    assert body["other_dead_letters"] == [{"consumer": "stock.sync", "reason": "KeyError", "count": 1}]


@pytest.mark.parametrize("transport", ["embedded"], indirect=True)
@pytest.mark.parametrize("database", ["sqlite_database"], indirect=True)
async def test_consumers_refuses_unknown_query_parameters(client) -> None:
    """A query parameter the route does not take is a 422 naming it."""
    response = await client.get("/consumers", params={"queue": "x"})
    assert response.status_code == 422
    assert [error["path"] for error in response.json()["errors"]] == ["query.queue"]


async def test_consumers_without_a_bus_answers_503(sqlite_database, tmp_path) -> None:
    """A Candystore not connected to a bus says the queues are unavailable rather than empty."""
    store = sqlite_database.store()
    api = create_api(
        store,
        settings=CandystoreSettings(data_dir=tmp_path),
        hub=LiveHub(),
        registry=CollectorRegistry(),
        access=Access.open(),
    )
    async with client_for(api) as http:
        response = await http.get("/consumers")
    await store.close()
    assert response.status_code == 503
    assert "not connected to the bus" in response.json()["errors"][0]["message"]
