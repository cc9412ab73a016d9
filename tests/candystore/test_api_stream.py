"""The WebSocket stream ``/events/stream`` in Starlette's TestClient, whose loop is reached through its portal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.websockets import WebSocketDisconnect

from bloodbank.transport import OutgoingMessage
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.ingest import Ingestor
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from candystore.store.migrate import upgrade
from holyfields.validation import decode_json
from tests.candystore.api_helpers import OFFER_TYPE, make_api, offer
from tests.candystore.test_store_contract import envelope


@pytest.fixture
def streaming(tmp_path) -> Callable[..., TestClient]:
    """A TestClient on an API whose hub the test feeds through the client's portal."""

    def make(hub: LiveHub) -> TestClient:
        store = EventStore.open(f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}")
        return TestClient(make_api(store, tmp_path, hub=hub), base_url="http://localhost")

    return make


def test_stream_pushes_matching_events_as_stored(streaming):
    """Only events matching the stream's filters arrive, each as its stored envelope (timestamp in UTC)."""
    hub = LiveHub()
    match = envelope(OFFER_TYPE, at="2026-03-01T14:00:00+02:00", payload={"store_id": "s1", "qty": 2})
    other_store = envelope(OFFER_TYPE, payload={"store_id": "s2", "qty": 2})
    other_type = envelope("github.pr.opened.v1", payload={"store_id": "s1", "qty": 2})
    with (
        streaming(hub) as client,
        client.websocket_connect(
            "ws://localhost/events/stream?event_type=retail.%23&payload.store_id=s1&payload.qty=2"
        ) as socket,
    ):
        subscribed(client, hub)
        client.portal.call(hub.publish, [other_store, other_type, match])
        received = socket.receive_text()
    assert received == msgspec.json.encode({**match, "timestamp": "2026-03-01T12:00:00Z"}).decode()


def subscribed(client: TestClient, hub: LiveHub) -> None:
    """Wait until the socket just opened has subscribed to the hub."""
    assert client.portal is not None
    for _ in range(1000):
        if hub.subscribers:
            return
        client.portal.call(asyncio.sleep, 0.01)
    pytest.fail("the stream did not subscribe within 10 s")


def closing(client: TestClient, url: str) -> WebSocketDisconnect:
    """How the server closes the socket at ``url``."""
    with client.websocket_connect("ws://localhost" + url) as socket, pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_text()
    return closed.value


def test_stream_closes_with_1008_naming_a_bad_filter(streaming):
    """A bad filter closes the socket with 1008 and a reason naming the parameter."""
    with streaming(LiveHub()) as client:
        bad_time = closing(client, "/events/stream?since=today")
        unknown = closing(client, "/events/stream?types=x")
    assert bad_time.code == 1008
    assert bad_time.reason.startswith("query.since: 'today' is not ")
    assert unknown.code == 1008
    assert unknown.reason.startswith("query.types: unknown query parameter")
    assert len(unknown.reason.encode()) <= 123


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            "event_type=retail*",
            "query.event_type: not a valid event-type pattern: the word 'retail*' mixes a wildcard with other ...",
        ),
        (
            "event_type=" + "a" * 256,
            "query.event_type: not a valid event-type pattern: it has 256 characters, more than the 255 allowed",
        ),
        ("since=0001-01-01T00:00:00%2B14:00", "query.since: '0001-01-01T00:00:00+14:00' is "),
        ("until=9999-12-31T23:59:59-14:00", "query.until: '9999-12-31T23:59:59-14:00' is "),
    ],
)
def test_stream_closes_with_1008_for_a_malformed_pattern_or_an_extreme_time(streaming, query, reason):
    """A malformed or too long type pattern, or a time the store cannot hold, closes with 1008 saying why."""
    with streaming(LiveHub()) as client:
        closed = closing(client, f"/events/stream?{query}")
    assert closed.code == 1008
    assert closed.reason.startswith(reason.removesuffix("..."))
    assert len(closed.reason.encode()) <= 123


def test_a_stream_past_the_subscriber_cap_is_closed_with_1013(streaming):
    """When the hub serves its maximum, one more socket is closed with 1013 and a reason; the first goes on."""
    hub = LiveHub(max_subscribers=1)
    with streaming(hub) as client, client.websocket_connect("ws://localhost/events/stream") as first:
        subscribed(client, hub)
        refused = closing(client, "/events/stream")
        client.portal.call(hub.publish, [envelope()])
        assert decode_json(first.receive_text())["event_type"] == "fireflies.transcript.ready.v1"
    assert refused.code == 1013
    assert refused.reason == "the live stream is full (1 subscribers); try again later"


def test_a_pathological_pattern_is_answered(streaming):
    """A filter of many `#` meeting an event of a long type is matched at once: the next event still arrives."""
    hub = LiveHub()
    pattern = "%23." * 120 + "z"
    long_type = ".".join(["a"] * 20_000) + ".b"
    wanted = envelope("retail.offer.z")
    with (
        streaming(hub) as client,
        client.websocket_connect(f"ws://localhost/events/stream?event_type={pattern}") as socket,
    ):
        subscribed(client, hub)
        client.portal.call(hub.publish, [envelope(long_type), wanted])
        received = decode_json(socket.receive_text())
    assert received["event_id"] == wanted["event_id"]


def test_a_slow_stream_client_is_dropped_with_a_reason(streaming):
    """A client that falls more than the queue bound behind is closed with 1013 and how far behind it was."""
    hub = LiveHub(max_queue=3)
    with streaming(hub) as client, client.websocket_connect("ws://localhost/events/stream") as socket:
        subscribed(client, hub)
        client.portal.call(hub.publish, [envelope() for _ in range(10)])
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1013
    assert closed.value.reason == "too slow: 10 events behind; catch up with GET /events"
    assert hub.subscribers == 0


def test_stream_follows_the_bus_through_the_ingestor(streaming, tmp_path):
    """Events published on the bus are stored by the ingestor and pushed to the stream after the commit."""
    hub = LiveHub()
    store = EventStore.open(f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}")
    transport = EmbeddedTransport(tmp_path / "live-bus.sqlite3")
    config = CandystoreSettings(data_dir=tmp_path, batch_size=10, batch_wait=0.02)
    ingestor = Ingestor(transport, store, settings=config, registry=CollectorRegistry(), on_committed=hub.publish)
    events = [offer() for _ in range(3)]

    async def start() -> None:
        await upgrade(store.engine)
        await transport.connect()
        await ingestor.start()

    async def publish() -> None:
        messages = [OutgoingMessage(msgspec.json.encode(e), OFFER_TYPE, e["event_id"]) for e in events]
        await transport.publish_batch(messages, timeout=5)

    async def stop() -> None:
        await ingestor.stop(timeout=5)
        await transport.close()
        await store.close()

    with streaming(hub) as client:
        portal = client.portal
        assert portal is not None
        portal.call(start)
        try:
            with client.websocket_connect("ws://localhost/events/stream?event_type=retail.offer.%23") as socket:
                subscribed(client, hub)
                portal.call(publish)
                received = [decode_json(socket.receive_text()) for _ in events]
        finally:
            portal.call(stop)
    assert sorted(e["event_id"] for e in received) == sorted(e["event_id"] for e in events)
    assert all(e["timestamp"].endswith("Z") for e in received)
