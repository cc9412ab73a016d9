"""CloudEvents at the gateway: structured, binary and batched requests made by the CloudEvents SDK, and the
AMQP binding's properties on what is published, read back by the SDK."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cloudevents.core.bindings import amqp, http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from fastapi.testclient import TestClient

from bloodbank import BloodbankSettings
from bloodbank import cloudevents as ce
from bloodbank.gateway import create_gateway
from bloodbank.transport import Delivery
from gumdrop.access_control import Access
from holyfields import default_catalog
from holyfields.validation import default_validator
from tests.bloodbank.test_gateway import OFFER, OFFER_TYPE, QUEUE, started, transport_of

PARENT = "0193a5f1-0a2b-7c3d-8e4f-5a6b7c8d9e0f"
JSON = JSONFormat()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started gateway, open (no keys), with a queue bound to every event type."""
    app = create_gateway(BloodbankSettings(data_dir=tmp_path, publish_timeout=2.0), access=Access.open())
    with started(TestClient(app, base_url="http://localhost")) as gateway:
        yield gateway


def offer_event(**attributes: Any) -> CloudEvent:
    return CloudEvent(
        attributes={
            "type": OFFER_TYPE,
            "source": "/system/web-03/magic-apron",
            "id": str(uuid.uuid4()),
            "datacontenttype": "application/json",
            **attributes,
        },
        data=OFFER,
    )


def published(client: TestClient, count: int) -> list[Delivery]:
    """The next ``count`` messages of the test's queue, acknowledged."""

    async def consume() -> list[Delivery]:
        deliveries: list[Delivery] = []
        enough = asyncio.Event()

        async def keep(delivery: Delivery) -> None:
            deliveries.append(delivery)
            await delivery.ack()
            if len(deliveries) >= count:
                enough.set()

        subscription = await transport_of(client).consume_queue(QUEUE, keep, prefetch=50)
        try:
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            await subscription.stop(timeout=5)
        return deliveries

    return client.portal.call(consume)  # type: ignore[union-attr]


def test_a_structured_cloudevent_is_published_as_its_envelope(client: TestClient) -> None:
    """The SDK's structured event: 202 with its id; the message is the mapped envelope, valid at the consuming end."""
    moment = datetime(2026, 11, 2, 14, 3, 27, 512000, tzinfo=timezone(timedelta(hours=1)))
    event = offer_event(correlationids=PARENT, time=moment)
    request = http.to_structured(event, JSON)
    answer = client.post("/events", content=request.body, headers=request.headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"event_id": event.get_id()}
    [delivery] = published(client, 1)
    envelope = default_validator().parse(delivery.body)
    assert envelope["event_type"] == OFFER_TYPE
    assert envelope["source"] == {"type": "system", "host": "web-03", "app": "magic-apron"}
    assert envelope["correlation_ids"] == [PARENT]
    assert envelope["timestamp"] == "2026-11-02T14:03:27.512000+01:00"  # as sent; the store normalises to UTC
    assert envelope["payload"] == OFFER


def test_a_binary_cloudevent_is_published(client: TestClient) -> None:
    """ce-* headers and the payload as the body, as the SDK sends them in binary mode."""
    event = offer_event(agentcontext='{"type": "claude", "name": "pricer"}')
    request = http.to_binary(event, JSON)
    answer = client.post("/events", content=request.body, headers=request.headers)
    assert answer.status_code == 202, answer.text
    [delivery] = published(client, 1)
    envelope = msgspec.json.decode(delivery.body)
    assert envelope["event_id"] == event.get_id()
    assert envelope["agent_context"] == {"type": "claude", "name": "pricer"}


def test_a_foreign_id_maps_to_the_same_event_id_every_time(client: TestClient) -> None:
    """A non-UUID id sent twice (a redelivery) is the same event_id, so the store absorbs the second."""
    event = offer_event(id="A234-1234-1234", source="https://github.com/acme/shop")
    request = http.to_structured(event, JSON)
    first = client.post("/events", content=request.body, headers=request.headers)
    second = client.post("/events", content=request.body, headers=request.headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    uuid.UUID(first.json()["event_id"])


def test_a_batch_of_cloudevents_is_answered_per_event(client: TestClient) -> None:
    """Valid events are accepted; a bad one is rejected naming its index and attribute."""
    good = [msgspec.json.decode(http.to_structured(offer_event(), JSON).body) for _ in range(2)]
    bad = {**good[0], "id": str(uuid.uuid4()), "specversion": "0.3"}
    answer = client.post("/events/batch", content=msgspec.json.encode([*good, bad]), headers={"content-type": ce.BATCH})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [result["status"] for result in results] == ["accepted", "accepted", "rejected"]
    assert [error["path"] for error in results[2]["errors"]] == ["$[2].specversion"]
    assert len(published(client, 2)) == 2


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"specversion": "1.0", "type": OFFER_TYPE, "source": "/system/h/a", "data": OFFER}, "$.id"),
        ({"specversion": "1.0", "id": "1", "type": OFFER_TYPE, "source": "/system/h/a", "data": [1]}, "$.data"),
        (
            {"specversion": "1.0", "id": "1", "type": OFFER_TYPE, "source": "/system/h/a", "data": OFFER,
             "dataschema": "https://33god.io/schemas/retail/other.v1.schema.json"},
            "$.dataschema",
        ),
    ],
)  # fmt: skip
def test_a_bad_cloudevent_is_a_422_naming_the_attribute(client: TestClient, body: dict[str, Any], path: str) -> None:
    answer = client.post("/events", content=msgspec.json.encode(body), headers={"content-type": ce.STRUCTURED})
    assert answer.status_code == 422, answer.text
    assert path in [error["path"] for error in answer.json()["errors"]]


def test_a_cloudevents_batch_must_be_an_array(client: TestClient) -> None:
    answer = client.post("/events/batch", content=b'{"events": []}', headers={"content-type": ce.BATCH})
    assert answer.status_code == 422
    assert [error["path"] for error in answer.json()["errors"]] == ["$"]


def test_published_messages_carry_the_amqp_binding_the_sdk_reads(client: TestClient) -> None:
    """A consumer that knows only CloudEvents reads id, type, source and time from the message's properties."""
    answer = client.post("/events", json={"event_type": OFFER_TYPE, "payload": OFFER})
    assert answer.status_code == 202
    [delivery] = published(client, 1)
    envelope = msgspec.json.decode(delivery.body)
    properties = {name: value for name, value in delivery.headers.items() if name.startswith(ce.AMQP_PREFIX)}
    message = amqp.AMQPMessage(
        properties={"content-type": "application/json"},
        application_properties=properties,
        application_data=delivery.body,
    )
    event = amqp.from_binary(message, JSON)
    assert event.get_id() == envelope["event_id"]
    assert event.get_type() == OFFER_TYPE
    assert event.get_source() == "/{type}/{host}/{app}".format(**envelope["source"])
    assert event.get_data() == envelope
    assert event.get_dataschema() == default_catalog().envelope.schema_id
