"""Outbound deliveries end to end: Candystore as ``candystore serve`` runs it, real HTTP receivers on 127.0.0.1.

Each receiver is a uvicorn server the test starts on a free port; it answers as the test
scripts it (fail, time out, answer slowly, refuse, recover) and verifies every signature
with ``standardwebhooks.Webhook.verify``. The service runs on the embedded broker and on
RabbitMQ, over SQLite (and once over PostgreSQL), with retry tiers of 0.05 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import msgspec
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bloodbank import BloodbankSettings, Bus, build_envelope
from candystore.deliveries import DeliveryManager, SubscriptionCatalog
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from gumdrop.access_control import Access
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SNAPSHOT_TYPE = "retail.inventory.snapshot.v1"
SNAPSHOT = default_catalog().get(SNAPSHOT_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "delivery-tests"}
TIERS = (0.05, 0.05)
"""Retry tiers of the tests: two retries, 50 ms apart."""


# --- a receiver: a real HTTP server the test scripts ------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request: a status after a pause, with headers and a body."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    trickle: float = 0.0
    """Seconds between the bytes of the body, sent one by one when set."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    webhook_id: str
    body: bytes
    headers: dict[str, str]
    verified: bool
    at: float
    """``time.time()`` when it arrived."""
    answered: int
    peer: tuple[str, int] | None = None
    """The client's address and port: one per connection."""


Script = Callable[[str, int], Reply]
"""The reply to the ``n``-th request (from 1) carrying a webhook id."""


def always(status: int = 200, **options: Any) -> Script:
    return lambda _id, _n: Reply(status, **options)


def failing_first(times: int, status: int = 503, then: int = 200) -> Script:
    return lambda _id, n: Reply(status if n <= times else then)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering as ``script`` says; ``received`` is every request, in order."""

    secret: str | None = None
    script: Script = field(default_factory=always)
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        webhook_id = headers.get("webhook-id", "")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            reply = self.script(webhook_id, 1 + sum(1 for r in self.received if r.webhook_id == webhook_id))
            self.received.append(
                Received(
                    webhook_id,
                    body,
                    headers,
                    self._verified(body, headers),
                    time.time(),
                    reply.status,
                    tuple(scope["client"]) if scope.get("client") else None,
                )
            )
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        response_headers = [(b"content-type", b"text/plain"), *((k.encode(), v.encode()) for k, v in reply.headers)]
        await send({"type": "http.response.start", "status": reply.status, "headers": response_headers})
        if not reply.trickle:
            await send({"type": "http.response.body", "body": reply.body})
            return
        for index in range(len(reply.body)):
            await send({"type": "http.response.body", "body": reply.body[index : index + 1], "more_body": True})
            await asyncio.sleep(reply.trickle)
        await send({"type": "http.response.body", "body": b""})

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def count(self, webhook_id: str) -> int:
        return sum(1 for request in self.received if request.webhook_id == webhook_id)

    def successes(self) -> Counter[str]:
        return Counter(r.webhook_id for r in self.received if 200 <= r.answered < 300)


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """``receiver`` served by uvicorn on a free port of 127.0.0.1 (its ``url`` set) until the block ends."""
    config = uvicorn.Config(
        receiver, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=10)
    assert not task.done(), "the receiver did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


# --- the platform -------------------------------------------------------------------------------


def offers(count: int, **payload: Any) -> list[dict[str, Any]]:
    return [
        build_envelope(OFFER_TYPE, {**OFFER, "product_id": f"SKU-{index}", **payload}, source=SOURCE)
        for index in range(count)
    ]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str | None:
    """None for the embedded broker, else the test's own RabbitMQ virtual host."""
    return request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" else None


@asynccontextmanager
async def running_candystore(
    tmp_path: Path, broker_url: str | None, *, database_url: str | None = None, **settings: Any
) -> AsyncIterator[CandystoreService]:
    """Candystore with its deliveries on a bus of its own, as ``candystore serve`` runs it."""
    bus = await Bus.start(
        BloodbankSettings(broker_url=broker_url, data_dir=tmp_path / "bus", publish_timeout=5.0, redis_url=None)
    )
    options: dict[str, Any] = {
        "data_dir": tmp_path,
        "batch_wait": 0.01,
        "delivery_retry_delays": TIERS,
        "delivery_jitter": 0,
        "delivery_timeout": 2.0,
        **settings,
    }
    if database_url is not None:
        options["database_url"] = database_url
    service = CandystoreService(CandystoreSettings(**options), bus, access=Access.open())
    await service.start()
    try:
        yield service
    finally:
        await service.stop(timeout=5)
        await bus.close(timeout=5)


@pytest.fixture
async def candystore(broker_url: str | None, tmp_path: Path) -> AsyncIterator[CandystoreService]:
    async with running_candystore(tmp_path, broker_url) as service:
        yield service


def api(service: CandystoreService) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service.api), base_url="http://localhost")


async def subscribe(service: CandystoreService, receiver: Receiver, **fields: Any) -> dict[str, Any]:
    """Create a subscription to ``receiver`` through the API; its answer (with the secret, which the receiver takes)."""
    body = {"name": "crm", "patterns": ["retail.offer.#"], "url": receiver.url, **fields}
    async with api(service) as client:
        response = await client.post("/subscriptions", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secret = created["secret"]
    return created


def counted(service: CandystoreService, subscription: str, outcome: str) -> float:
    value = service.registry.get_sample_value(
        "candystore_deliveries_total", {"subscription": subscription, "outcome": outcome}
    )
    return value or 0.0


async def publish(service: CandystoreService, envelopes: list[dict[str, Any]]) -> None:
    outcomes = await service.bus.publisher.publish_many(envelopes)
    assert all(outcome.ok for outcome in outcomes)


# --- delivering ---------------------------------------------------------------------------------


async def test_matching_events_are_posted_signed_each_once(candystore: CandystoreService) -> None:
    """Events matching the patterns and filters are POSTed once each, signed, their id as webhook-id."""
    async with receiving(Receiver()) as receiver:
        created = await subscribe(candystore, receiver, filters=["payload.store_id=S-42", "payload.price[gt]=10"])
        assert created["running"] is True
        assert created["consumer"] == "delivery.crm"
        wanted = offers(5, store_id="S-42", price=39.98)
        cheap = offers(2, store_id="S-42", price=1.5)
        elsewhere = offers(2, store_id="S-7", price=39.98)
        snapshot = build_envelope(SNAPSHOT_TYPE, SNAPSHOT, source=SOURCE)
        await publish(candystore, [*wanted, *cheap, snapshot, *elsewhere])

        await eventually(lambda: counted(candystore, "crm", "filtered") == 4 and len(receiver.received) == 5)
        await asyncio.sleep(0.2)  # nothing more arrives

    by_id = {request.webhook_id: request for request in receiver.received}
    assert len(receiver.received) == 5
    assert set(by_id) == {envelope["event_id"] for envelope in wanted}
    for envelope in wanted:
        request = by_id[envelope["event_id"]]
        assert request.verified
        assert msgspec.json.decode(request.body) == envelope
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-signature"].startswith("v1,")
    assert counted(candystore, "crm", "delivered") == 5
    ids = [uuid.UUID(envelope["event_id"]) for envelope in wanted]
    assert await candystore.store.delivered("crm", ids) == set(ids)
    async with api(candystore) as client:
        exposed = (await client.get("/metrics")).text
    assert 'candystore_deliveries_total{outcome="delivered",subscription="crm"} 5.0' in exposed
    assert 'candystore_delivery_seconds_count{subscription="crm"} 5.0' in exposed
    assert 'candystore_deliveries_in_flight{subscription="crm"} 0.0' in exposed


async def test_a_failing_receiver_gets_each_event_again_until_it_answers_2xx_then_never_again(
    candystore: CandystoreService,
) -> None:
    """503, 503, then 200: each event is sent three times, signed each time, and nothing after its success."""
    async with receiving(Receiver(script=failing_first(2))) as receiver:
        await subscribe(candystore, receiver)
        events = offers(4)
        await publish(candystore, events)
        await eventually(lambda: counted(candystore, "crm", "delivered") == 4)
        await asyncio.sleep(0.3)  # longer than both tiers: a repeat after success would have arrived

    assert receiver.successes() == Counter({envelope["event_id"]: 1 for envelope in events})
    for envelope in events:
        requests = [r for r in receiver.received if r.webhook_id == envelope["event_id"]]
        assert [r.answered for r in requests] == [503, 503, 200]  # nothing after the success
        assert all(r.verified for r in requests)
        assert len({r.body for r in requests}) == 1
    assert counted(candystore, "crm", "retried") == 8
    assert (await candystore.store.dead_letters()).items == []


async def test_a_receiver_too_slow_is_tried_again_and_one_slow_within_the_timeout_is_delivered(
    candystore: CandystoreService,
) -> None:
    """The first answer comes after the timeout (retried), the second slowly within it (delivered)."""
    script: Script = lambda _id, n: Reply(200, delay=1.0 if n == 1 else 0.1)  # noqa: E731
    async with receiving(Receiver(script=script)) as receiver:
        await subscribe(candystore, receiver, timeout=0.3)
        events = offers(3)
        await publish(candystore, events)
        await eventually(lambda: counted(candystore, "crm", "delivered") == 3)

    assert Counter(r.webhook_id for r in receiver.received) == {envelope["event_id"]: 2 for envelope in events}
    assert counted(candystore, "crm", "retried") == 3
    assert candystore.registry.get_sample_value("candystore_delivery_seconds_count", {"subscription": "crm"}) == 6


async def test_no_more_requests_than_the_concurrency_are_in_flight(candystore: CandystoreService) -> None:
    """With concurrency 2, a slow receiver never has more than two requests of the subscription at once."""
    async with receiving(Receiver(script=always(200, delay=0.05))) as receiver:
        await subscribe(candystore, receiver, concurrency=2)
        await publish(candystore, offers(12))
        await eventually(lambda: counted(candystore, "crm", "delivered") == 12)

    assert 1 <= receiver.most_in_flight <= 2
    assert len(receiver.received) == 12


async def dead_letters_of(service: CandystoreService, consumer: str, count: int) -> list[dict[str, Any]]:
    """The open dead letters of ``consumer`` through ``GET /dlq``, once ``count`` of them are kept."""
    found: list[dict[str, Any]] = []

    async def kept() -> bool:
        nonlocal found
        async with api(service) as client:
            found = (await client.get("/dlq", params={"consumer": consumer, "state": "open"})).json()["items"]
        return len(found) == count

    await eventually(kept)
    return found


async def test_a_refusal_is_dead_lettered_at_once_with_the_status_and_the_answer(
    candystore: CandystoreService,
) -> None:
    """A 400 is not retried: the event goes to the dead letters of delivery.crm, saying what the receiver said."""
    async with receiving(Receiver(script=always(400, body=b'{"error": "unknown field sku"}'))) as receiver:
        await subscribe(candystore, receiver)
        [event] = offers(1)
        await publish(candystore, [event])
        [letter] = await dead_letters_of(candystore, "delivery.crm", 1)

    assert len(receiver.received) == 1
    assert letter["event_id"] == event["event_id"]
    assert letter["error"] == 'PermanentFailure: answered 400 Bad Request: {"error": "unknown field sku"}'
    assert letter["attempts"] == 1
    assert counted(candystore, "crm", "dead_lettered") == 1


async def test_after_the_last_tier_the_event_is_dead_lettered_and_a_replay_delivers_it_once(
    candystore: CandystoreService,
) -> None:
    """503 on every attempt: dead-lettered after the last tier; replayed through /dlq/replay, it is delivered to
    this subscription and not sent again to one that had delivered it."""
    failing = Receiver(script=always(503, headers=(("retry-after", "120"),)))
    async with receiving(failing) as receiver, receiving(Receiver()) as audit:
        await subscribe(candystore, receiver)
        await subscribe(candystore, audit, name="audit")
        [event] = offers(1)
        await publish(candystore, [event])
        [letter] = await dead_letters_of(candystore, "delivery.crm", 1)
        assert letter["error"] == "DeliveryFailed: answered 503 Service Unavailable (Retry-After: 120)"
        assert letter["attempts"] == 1 + len(TIERS)
        assert [r.answered for r in receiver.received] == [503, 503, 503]
        assert counted(candystore, "crm", "retried") == 2
        assert counted(candystore, "crm", "dead_lettered") == 1

        receiver.script = always(200)
        async with api(candystore) as client:
            replay = await client.post("/dlq/replay", json={"ids": [letter["id"]]})
        assert replay.status_code == 200, replay.text
        assert replay.json()["replayed"] == 1
        await eventually(lambda: receiver.successes()[event["event_id"]] == 1)
        await eventually(lambda: counted(candystore, "audit", "skipped_duplicate") == 1)

    assert audit.count(event["event_id"]) == 1
    assert [r.answered for r in receiver.received] == [503, 503, 503, 200]
    assert receiver.received[-1].verified


async def test_a_410_dead_letters_the_event_and_disables_the_subscription_until_enabled_again(
    candystore: CandystoreService,
) -> None:
    """410 Gone: the event is dead-lettered, the subscription disabled with why, later events wait in its queue
    and are delivered once it is enabled again."""
    async with receiving(Receiver(script=always(410))) as receiver:
        await subscribe(candystore, receiver)
        [gone, waiting] = offers(2)
        await publish(candystore, [gone])
        [letter] = await dead_letters_of(candystore, "delivery.crm", 1)
        assert letter["error"] == (
            "PermanentFailure: answered 410 Gone; the subscription is disabled (the receiver is gone)"
        )
        await eventually(lambda: not candystore.deliveries.running("crm"))
        async with api(candystore) as client:
            shown = (await client.get("/subscriptions/crm")).json()
        assert (shown["enabled"], shown["running"]) == (False, False)
        assert shown["disabled_reason"] == "the receiver is gone: answered 410 Gone"
        assert shown["updated_by"] == "candystore"

        await publish(candystore, [waiting])
        await eventually(lambda: queue_depth(candystore, "delivery.crm", 1))
        receiver.script = always(200)
        async with api(candystore) as client:
            enabled = await client.patch("/subscriptions/crm", json={"enabled": True})
        assert enabled.json()["disabled_reason"] is None
        await eventually(lambda: receiver.successes()[waiting["event_id"]] == 1)

    assert receiver.count(gone["event_id"]) == 1


async def queue_depth(service: CandystoreService, queue: str, depth: int) -> bool:
    return await service.bus.transport.queue_depth(queue) == depth


async def test_an_event_published_twice_is_delivered_once(candystore: CandystoreService) -> None:
    """The same event twice (a producer's retry, a replay): the second copy finds the record and is not sent."""
    async with receiving(Receiver()) as receiver:
        await subscribe(candystore, receiver)
        [event] = offers(1)
        await publish(candystore, [event])
        await publish(candystore, [event])
        await eventually(lambda: counted(candystore, "crm", "skipped_duplicate") == 1)

    assert receiver.count(event["event_id"]) == 1
    assert counted(candystore, "crm", "delivered") == 1


async def test_a_disabled_subscription_keeps_its_events_until_enabled(candystore: CandystoreService) -> None:
    """PATCH enabled=false stops the consumer (events wait in its queue); enabled again, they are delivered."""
    async with receiving(Receiver()) as receiver:
        await subscribe(candystore, receiver)
        async with api(candystore) as client:
            paused = (await client.patch("/subscriptions/crm", json={"enabled": False})).json()
        assert (paused["enabled"], paused["running"]) == (False, False)
        events = offers(3)
        await publish(candystore, events)
        await eventually(lambda: queue_depth(candystore, "delivery.crm", 3))
        assert receiver.received == []
        async with api(candystore) as client:
            resumed = (await client.patch("/subscriptions/crm", json={"enabled": True})).json()
        assert resumed["running"] is True
        await eventually(lambda: counted(candystore, "crm", "delivered") == 3)

    assert {r.webhook_id for r in receiver.received} == {envelope["event_id"] for envelope in events}


async def test_deleting_a_subscription_stops_its_consumer(candystore: CandystoreService) -> None:
    """DELETE stops the consumer at once (the queue has none left) and the subscription is gone from the list."""
    async with receiving(Receiver()) as receiver:
        await subscribe(candystore, receiver)
        assert (await candystore.bus.transport.queue_state("delivery.crm")).consumers == 1
        async with api(candystore) as client:
            deleted = await client.delete("/subscriptions/crm")
            listed = (await client.get("/subscriptions")).json()["items"]
        assert deleted.status_code == 200
        assert listed == []
        assert not candystore.deliveries.running("crm")
        await eventually(
            lambda: _consumers(candystore, "delivery.crm", 0)  # RabbitMQ counts consumers a moment later
        )


async def _consumers(service: CandystoreService, queue: str, count: int) -> bool:
    return (await service.bus.transport.queue_state(queue)).consumers == count


async def test_new_settings_restart_the_consumer_and_the_secret_is_kept(candystore: CandystoreService) -> None:
    """PUT with another URL: the next events go there, signed with the secret made at creation."""
    async with receiving(Receiver()) as first, receiving(Receiver()) as second:
        created = await subscribe(candystore, first)
        second.secret = created["secret"]
        await publish(candystore, offers(1))
        await eventually(lambda: len(first.received) == 1)
        async with api(candystore) as client:
            replaced = await client.put("/subscriptions/crm", json={"patterns": ["retail.#"], "url": second.url})
        assert replaced.status_code == 200, replaced.text
        assert "secret" not in replaced.json()
        [event] = offers(1)
        await publish(candystore, [event])
        await eventually(lambda: len(second.received) == 1)

    assert second.received[0].webhook_id == event["event_id"]
    assert second.received[0].verified
    assert len(first.received) == 1


async def test_subscriptions_of_the_deliveries_file_deliver_and_are_read_only_through_the_api(
    broker_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DELIVERIES_FILE's subscription delivers (its secret from the environment); the API lists it as `file` and
    refuses to change, replace, delete or shadow it (409, saying where it comes from)."""
    secret = "whsec_" + "c2VjcmV0LWZvci10aGUtZmlsZS1zdWJzY3JpcHRpb24="
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", secret)
    async with receiving(Receiver(secret=secret)) as receiver:
        deliveries = tmp_path / "deliveries.yaml"
        deliveries.write_text(
            "subscriptions:\n"
            "  - name: crm\n"
            "    patterns: [retail.offer.#]\n"
            "    filters: ['payload.availability=in_stock']\n"
            f"    url: {receiver.url}\n"
            "    secret_env: CRM_WEBHOOK_SECRET\n"
            "    retry_delays: [0.05]\n"
        )
        async with running_candystore(tmp_path, broker_url, deliveries_file=deliveries) as service:
            events = offers(2, availability="in_stock")
            await publish(service, [*events, *offers(1, availability="out_of_stock")])
            await eventually(lambda: counted(service, "crm", "delivered") == 2)
            async with api(service) as client:
                listed = (await client.get("/subscriptions")).json()["items"]
                refusals = [
                    await client.patch("/subscriptions/crm", json={"enabled": False}),
                    await client.put("/subscriptions/crm", json={"patterns": ["#"], "url": receiver.url}),
                    await client.delete("/subscriptions/crm"),
                ]
                taken = await client.post(
                    "/subscriptions", json={"name": "crm", "patterns": ["#"], "url": receiver.url}
                )

    assert {r.webhook_id for r in receiver.received} == {envelope["event_id"] for envelope in events}
    assert all(r.verified for r in receiver.received)
    [shown] = listed
    assert (shown["source"], shown["running"], shown["retry_delays"]) == ("file", True, [0.05])
    from_file = "subscription 'crm' comes from DELIVERIES_FILE: change it there (read when Candystore starts)"
    for refusal in refusals:
        assert refusal.status_code == 409
        assert refusal.json() == {"errors": [{"path": "path.name", "message": from_file}]}
    assert taken.status_code == 409
    assert taken.json()["errors"] == [
        {
            "path": "$.name",
            "message": "DELIVERIES_FILE defines a subscription 'crm': choose another name, or change that one",
        }
    ]


@pytest.mark.postgres
async def test_deliveries_are_recorded_in_postgresql(tmp_path: Path, postgres_database: Any) -> None:
    """On PostgreSQL too, a failing then recovering receiver gets each event once after success, recorded."""
    async with (
        receiving(Receiver(script=failing_first(1, status=500))) as receiver,
        running_candystore(
            tmp_path, None, database_url=postgres_database.url, database_schema=_schema_of(postgres_database)
        ) as service,
    ):
        await subscribe(service, receiver)
        events = offers(6)
        await publish(service, events)
        await eventually(lambda: counted(service, "crm", "delivered") == 6)
        ids = [uuid.UUID(envelope["event_id"]) for envelope in events]
        assert await service.store.delivered("crm", ids) == set(ids)

    assert receiver.successes() == Counter({envelope["event_id"]: 1 for envelope in events})


def _schema_of(database: Any) -> str:
    return str(database.connect_args["server_settings"]["search_path"])


async def test_a_change_made_through_another_candystore_is_followed_at_the_next_refresh(
    candystore: CandystoreService,
) -> None:
    """A second manager on the same database (another Candystore process) starts and stops the consumer when it
    refreshes, and the two share the deliveries without sending any event twice."""
    other = DeliveryManager(
        SubscriptionCatalog(candystore.store),
        candystore.bus,
        settings=candystore.settings,
        registry=CollectorRegistry(),
    )
    async with receiving(Receiver()) as receiver:
        await subscribe(candystore, receiver)
        assert not other.running("crm")
        await other.refresh()
        assert other.running("crm")
        events = offers(20)
        await publish(candystore, events)
        await eventually(lambda: len(receiver.successes()) == 20)
        async with api(candystore) as client:
            await client.delete("/subscriptions/crm")
        await other.refresh()
        assert not other.running("crm")
        await other.stop(timeout=5)

    assert receiver.successes() == Counter({envelope["event_id"]: 1 for envelope in events})


async def test_a_subscription_created_disabled_keeps_its_events_from_its_creation(
    candystore: CandystoreService,
) -> None:
    """Created with enabled=false, its queue exists at once: what is published meanwhile is delivered once enabled."""
    async with receiving(Receiver()) as receiver:
        created = await subscribe(candystore, receiver, enabled=False)
        assert created["running"] is False
        events = offers(2)
        await publish(candystore, events)
        await eventually(lambda: queue_depth(candystore, "delivery.crm", 2))
        async with api(candystore) as client:
            await client.patch("/subscriptions/crm", json={"enabled": True})
        await eventually(lambda: counted(candystore, "crm", "delivered") == 2)

    assert {r.webhook_id for r in receiver.received} == {envelope["event_id"] for envelope in events}
