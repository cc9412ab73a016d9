"""The HTTP gateway on the embedded broker: 202 only after the confirm, every error in one shape, limits, keys.

Each test runs the app's lifespan (``TestClient`` as a context manager) on a broker file of
its own; what the gateway claims is checked on the broker through the app's own event loop
(``client.portal``), where the embedded transport lives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog
from fastapi.testclient import TestClient

from bloodbank import BloodbankSettings, ConsumerSpec
from bloodbank.gateway import create_gateway
from bloodbank.gateway.errors import GatewayError
from bloodbank.gateway.events import answer
from bloodbank.gateway.state import GatewayState
from bloodbank.publisher import PublishOutcome
from bloodbank.topology import UNROUTED_QUEUE
from bloodbank.transport import Delivery, PublishResult, PublishStatus, Transport
from gumdrop.access_control import Access
from gumdrop.logs import LogConfig, configure_logs
from gumdrop.settings import AccessSettings
from holyfields import ValidationIssue, default_catalog
from holyfields.validation import decode_json

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER: dict[str, Any] = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
ENVELOPE: dict[str, Any] = default_catalog().envelope.content["examples"][0]
QUEUE = "gateway.tests"
ClientFactory = Callable[..., TestClient]


def short_form(**fields: Any) -> dict[str, Any]:
    return {"event_type": OFFER_TYPE, "payload": OFFER, **fields}


def without(document: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != field}


def envelope(**fields: Any) -> dict[str, Any]:
    """The envelope schema's example with a fresh id (and ``fields`` changed)."""
    return {**ENVELOPE, "event_id": str(uuid.uuid4()), **fields}


def state_of(client: TestClient) -> GatewayState:
    state = client.app.state.gateway  # type: ignore[attr-defined]
    assert isinstance(state, GatewayState)
    return state


def transport_of(client: TestClient) -> Transport:
    bus = state_of(client).bus
    assert bus is not None
    return bus.transport


def depth(client: TestClient, queue: str = QUEUE) -> int:
    return client.portal.call(transport_of(client).queue_depth, queue)  # type: ignore[union-attr]


def take(client: TestClient, count: int, queue: str = QUEUE) -> list[bytes]:
    """Consume ``count`` messages of ``queue`` (acknowledging them) and return their bodies."""

    async def consume() -> list[bytes]:
        bodies: list[bytes] = []
        enough = asyncio.Event()

        async def keep(delivery: Delivery) -> None:
            bodies.append(delivery.body)
            await delivery.ack()
            if len(bodies) >= count:
                enough.set()

        subscription = await transport_of(client).consume_queue(queue, keep, prefetch=50)
        try:
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            await subscription.stop(timeout=5)
        return bodies

    return client.portal.call(consume)  # type: ignore[union-attr]


@pytest.fixture
def make_client(tmp_path: Path) -> ClientFactory:
    """Builds a gateway client on the test's broker file; settings can be overridden."""

    def make(*, api_keys: Sequence[str] = (), **overrides: Any) -> TestClient:
        settings = BloodbankSettings(data_dir=tmp_path, publish_timeout=0.5, **overrides)
        access = Access.from_settings(AccessSettings(api_keys=list(api_keys), keys_file=None, redis_url=None))
        return TestClient(create_gateway(settings, access=access), base_url="http://localhost")

    return make


@contextmanager
def started(client: TestClient) -> Iterator[TestClient]:
    """Run the client's lifespan, with a consumer queue bound to every event type."""
    with client:
        client.portal.call(transport_of(client).declare_consumer, ConsumerSpec(QUEUE, ("#",)))  # type: ignore[union-attr]
        yield client


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    """A started gateway with default settings and a consumer queue bound to `#`."""
    with started(make_client()) as gateway:
        yield gateway


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return [(error["path"], error["message"]) for error in body["errors"]]


# --- POST /events ---------------------------------------------------------------------------


def test_envelope_is_answered_202_with_its_id_once_it_is_queued(client: TestClient) -> None:
    """A complete envelope is answered 202 with its id, and is already on the consumer's queue, exactly as sent."""
    sent = envelope()
    response = client.post("/events", json=sent)
    assert response.status_code == 202
    assert response.json() == {"event_id": sent["event_id"]}
    assert depth(client) == 1
    assert decode_json(take(client, 1)[0]) == sent


def test_short_form_is_completed_by_the_gateway(client: TestClient) -> None:
    """`event_type` and `payload` alone get a UUIDv7 id, a UTC timestamp, the version and a webhook source."""
    parent = str(uuid.uuid4())
    response = client.post("/events", json=short_form(correlation_ids=[parent]))
    assert response.status_code == 202
    event_id = response.json()["event_id"]
    assert uuid.UUID(event_id).version == 7
    queued = decode_json(take(client, 1)[0])
    assert queued["event_id"] == event_id
    assert queued["timestamp"].endswith("Z")
    assert queued["version"] == "1.0.0"
    assert queued["source"] == {"host": "testclient", "type": "webhook", "app": "bloodbank"}
    assert queued["correlation_ids"] == [parent]
    assert queued["payload"] == OFFER


def test_big_integers_in_free_form_fields_survive_exactly(client: TestClient) -> None:
    """Integers beyond 64 bits in free-form objects (source.meta, n8n input) reach the queue digit for digit."""
    big = 2**100 + 7
    body = (
        b'{"event_type": "n8n.workflow.started.v1", "source": {"host": "h", "type": "system", "meta": {"big": '
        + str(big).encode()
        + b'}}, "payload": {"workflow_id": "w", "workflow_name": "n", "execution_id": "1", "mode": "webhook", '
        b'"started_at": "2026-11-02T14:03:28.104Z", "input": {"amount": -' + str(big).encode() + b"}}}"
    )
    response = client.post("/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    queued = take(client, 1)[0]
    assert b'"big":' + str(big).encode() in queued
    assert b'"amount":-' + str(big).encode() in queued
    document = decode_json(queued)
    assert document["source"]["meta"]["big"] == big
    assert document["payload"]["input"]["amount"] == -big


INVALID_INPUTS = {
    "invalid JSON": (b'{"event_type": ', [("$", "not valid JSON: ")]),
    "array body": (
        b"[]",
        [("$", "expected an object (one event), got array; to publish several events, POST them to /events/batch")],
    ),
    "missing payload": (msgspec.json.encode({"event_type": OFFER_TYPE}), [("$.payload", "is required")]),
    "misspelt correlation_id": (
        msgspec.json.encode({**without(envelope(), "correlation_ids"), "correlation_id": str(uuid.uuid4())}),
        [
            ("$.correlation_ids", "is required"),
            ("$.correlation_id", "unknown field: not allowed here; did you mean 'correlation_ids'?"),
        ],
    ),
    "non-UUID id": (
        msgspec.json.encode(envelope(event_id="evt-42")),
        [("$.event_id", "'evt-42' is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')")],
    ),
    "non-UUID parent": (
        msgspec.json.encode(short_form(correlation_ids=["parent-1"])),
        [("$.correlation_ids[0]", "'parent-1' is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')")],
    ),
    "timestamp without offset": (
        msgspec.json.encode(short_form(timestamp="2026-11-02T14:03:27")),
        [("$.timestamp", "'2026-11-02T14:03:27' is not an RFC 3339 timestamp with an offset")],
    ),
    "unknown event type": (
        msgspec.json.encode(short_form(event_type="retail.offer.surfacd.v1")),
        [
            (
                "$.event_type",
                "unknown event type 'retail.offer.surfacd.v1': no schema is registered for it; did you mean",
            )
        ],
    ),
    "payload breaking its schema": (
        msgspec.json.encode(short_form(payload={**OFFER, "price": "39.98", "availability": "plenty"})),
        [
            ("$.payload.availability", "'plenty' is not one of 'in_stock', 'limited', 'out_of_stock', 'unknown'"),
            ("$.payload.price", "expected number, got string '39.98'"),
        ],
    ),
}


@pytest.mark.parametrize(("body", "expected"), INVALID_INPUTS.values(), ids=INVALID_INPUTS.keys())
def test_invalid_input_is_a_422_listing_every_issue_with_its_path(
    client: TestClient, body: bytes, expected: list[tuple[str, str]]
) -> None:
    """Each kind of invalid input is answered 422 with every issue and its path, and nothing reaches the broker."""
    response = client.post("/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    issues = errors_of(response)
    for path, message in expected:
        assert any(p == path and m.startswith(message) for p, m in issues), (path, message, issues)
    assert len(issues) == len(expected), issues
    assert depth(client) == 0
    assert depth(client, UNROUTED_QUEUE) == 0


def test_several_problems_are_all_reported_at_once(client: TestClient) -> None:
    """An event with problems in the envelope and the payload gets all of them in one answer."""
    bad = short_form(event_id="nope", timestamp="yesterday", payload={**OFFER, "price": "free"}, correlation_id="x")
    paths = {path for path, _ in errors_of(client.post("/events", json=bad))}
    assert paths == {"$.event_id", "$.timestamp", "$.payload.price", "$.correlation_id", "$.correlation_ids"}


# --- POST /events/batch ---------------------------------------------------------------------


def test_batch_is_answered_per_item_in_order(client: TestClient) -> None:
    """Valid, invalid, legacy and non-object items get one result each, in order; the valid ones are queued."""
    full = envelope()
    items = [
        short_form(),
        short_form(payload={**OFFER, "price": "x"}),
        full,
        {"id": str(uuid.uuid4()), "event_type": OFFER_TYPE, "source": "legacy-app", "payload": OFFER},
        42,
    ]
    response = client.post("/events/batch", json=items)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "rejected", "rejected"]
    assert results[1]["errors"] == [{"path": "$.payload.price", "message": "expected number, got string 'x'"}]
    assert results[2]["event_id"] == full["event_id"]
    assert results[3]["errors"][0]["path"] == "$"
    assert "BLOODBANK_ACCEPT_LEGACY" in results[3]["errors"][0]["message"]
    assert results[4]["errors"] == [{"path": "$", "message": "expected an object (one event), got integer"}]
    queued = [decode_json(body)["event_id"] for body in take(client, 2)]
    assert sorted(queued) == sorted([results[0]["event_id"], full["event_id"]])


def test_batch_with_mixed_outcomes_answers_each_event(client: TestClient) -> None:
    """Accepted, rejected and refused events of one batch (a full queue nacks one) each get their result, in order."""
    capped = ConsumerSpec("gateway.capped", ("retail.offer.#",), max_length=1)
    client.portal.call(transport_of(client).declare_consumer, capped)  # type: ignore[union-attr]
    items = [short_form(), short_form(payload={**OFFER, "price": "x"}), short_form()]
    response = client.post("/events/batch", json=items)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, "accepted"), (1, "rejected"), (2, "failed")]
    full = "queue 'gateway.capped' is full (1 messages, x-overflow reject-publish)"
    assert results[2]["errors"] == [{"path": None, "message": f"the broker refused this event: {full}; retry it"}]
    assert isinstance(results[2]["event_id"], str)
    single = client.post("/events", json=short_form())
    assert single.status_code == 503
    assert errors_of(single) == [
        (None, f"the broker refused the event: {full}: the event was not accepted; retry after 5 s")
    ]
    assert depth(client) == 1


def test_batch_accepts_an_events_object(client: TestClient) -> None:
    """`{"events": [...]}` is a batch too."""
    response = client.post("/events/batch", json={"events": [short_form(), short_form()]})
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]
    assert depth(client) == 2


def test_batch_that_is_not_a_list_is_a_422(client: TestClient) -> None:
    """An object without `events` is answered 422 saying what a batch looks like."""
    response = client.post("/events/batch", json={"event": []})
    assert response.status_code == 422
    assert errors_of(response) == [
        ("$.events", 'is required: send an array of events, or {"events": [...]}'),
        ("$.event", "unknown field: not allowed here; allowed: events"),
    ]


def test_batch_over_the_limit_is_a_413(make_client: ClientFactory) -> None:
    """A batch with more events than `max_batch` is refused as a whole, saying the limit."""
    with started(make_client(max_batch=3)) as client:
        response = client.post("/events/batch", json=[short_form()] * 4)
        assert response.status_code == 413
        assert errors_of(response) == [
            (None, "the batch has 4 events; at most 3 are accepted per request: split it into smaller batches")
        ]
        assert depth(client) == 0


# --- limits, keys, broker outages -----------------------------------------------------------


def test_body_larger_than_the_limit_is_a_413(make_client: ClientFactory) -> None:
    """A body over `max_body_bytes` is refused with 413, whether announced by Content-Length or streamed."""
    with started(make_client(max_body_bytes=200)) as client:
        announced = client.post("/events", json=short_form())
        assert announced.status_code == 413
        assert errors_of(announced) == [
            (None, "the body is larger than 200 bytes (BLOODBANK_MAX_BODY_BYTES): send fewer or smaller events")
        ]
        streamed = client.post(
            "/events",
            content=iter([b"[" + b" " * 200, b" " * 200 + b"]"]),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        assert client.post("/events/batch", json=[short_form()]).status_code == 413


def test_api_keys_are_required_when_configured(make_client: ClientFactory) -> None:
    """With keys set, a missing or wrong key is a 401 with WWW-Authenticate; a right one in either header works."""
    with started(make_client(api_keys=["one:first-key", "two:second-key"])) as client:
        missing = client.post("/events", json=short_form())
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="33god"'
        assert errors_of(missing) == [
            ("header.X-API-Key", "an API key is required: send it as `Authorization: Bearer KEY` or `X-API-Key`")
        ]
        wrong = client.post("/events", json=short_form(), headers={"X-API-Key": "first-kez"})
        assert wrong.status_code == 401
        assert errors_of(wrong) == [("header.X-API-Key", "the API key is not valid")]
        assert client.get("/schemas", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert client.post("/events", json=short_form(), headers={"X-API-Key": "second-key"}).status_code == 202
        bearer = client.post("/events/batch", json=[short_form()], headers={"Authorization": "Bearer first-key"})
        assert bearer.status_code == 200
        for open_route in ("/health/live", "/health/ready"):
            assert client.get(open_route).status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": "first-key"}).status_code == 200
        assert depth(client) == 2


def test_broker_that_cannot_publish_is_a_503_with_retry_after(client: TestClient) -> None:
    """When the transport cannot publish within the publish timeout, the answer is 503 with Retry-After, never a 2xx."""
    client.portal.call(transport_of(client).close)  # type: ignore[union-attr]
    response = client.post("/events", json=short_form())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    [(path, message)] = errors_of(response)
    assert path is None
    assert message.startswith("the broker did not confirm within 0.5 s")
    assert client.post("/events/batch", json=[short_form()]).status_code == 503
    assert client.get("/health/ready").status_code == 503


def test_batch_marks_events_failed_when_the_broker_goes_away_midway(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the broker is lost after a first window was confirmed, the rest of the batch is `failed`, to retry."""
    with started(make_client(publish_window=1)) as client:
        transport = transport_of(client)
        confirm = transport.publish_each
        sent: list[str] = []

        async def lost_after_one_window(messages: Any, *, timeout: float) -> list[PublishResult]:
            sent.extend(m.message_id for m in messages)
            if len(sent) > 1:
                reason = "the embedded broker is not connected; call connect() first"
                return [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, reason) for m in messages]
            return await confirm(messages, timeout=timeout)

        monkeypatch.setattr(transport, "publish_each", lost_after_one_window)
        results = client.post("/events/batch", json=[short_form(), short_form(), short_form()]).json()["results"]
        assert [r["status"] for r in results] == ["accepted", "failed", "failed"]
        assert results[1]["errors"] == [
            {"path": None, "message": "the broker became unreachable before it confirmed this event: retry it"}
        ]
        assert results[2] == {**results[1], "index": 2}
        assert len(sent) > 2  # the second window was sent again until the publish timeout passed
        assert len(set(sent)) == 2  # and the third was not sent at all: the broker is gone
        assert depth(client) == 1


# --- the one mapping from outcomes to HTTP ---------------------------------------------------

CONFIRMED = PublishOutcome("e-1")
INVALID = PublishOutcome.invalid("e-2", [ValidationIssue("$.payload.price", "expected number")])
NACKED = PublishOutcome("e-3", PublishStatus.NACKED, error="queue 'q' is full")
RETURNED = PublishOutcome("e-4", PublishStatus.RETURNED, error="returned unroutable: no queue took it")
UNCONFIRMED = PublishOutcome("e-5", PublishStatus.UNCONFIRMED, error="the broker did not confirm within 0.5 s")


def answered(outcomes: list[PublishOutcome], *, batch: bool) -> tuple[int, Any]:
    try:
        response = answer(outcomes, batch=batch)
    except GatewayError as exc:
        response = exc.response()
    return response.status_code, decode_json(bytes(response.body))


NOT_ACCEPTED = "the event was not accepted; retry after 5 s"


@pytest.mark.parametrize(
    ("outcome", "status", "body"),
    [
        (CONFIRMED, 202, {"event_id": "e-1"}),
        (INVALID, 422, {"errors": [{"path": "$.payload.price", "message": "expected number"}]}),
        (
            NACKED,
            503,
            {"errors": [{"path": None, "message": f"the broker refused the event: {NACKED.error}: {NOT_ACCEPTED}"}]},
        ),
        (
            RETURNED,
            503,
            {"errors": [{"path": None, "message": f"the broker refused the event: {RETURNED.error}: {NOT_ACCEPTED}"}]},
        ),
        (UNCONFIRMED, 503, {"errors": [{"path": None, "message": f"{UNCONFIRMED.error}: {NOT_ACCEPTED}"}]}),
    ],
    ids=["confirmed", "invalid", "nacked", "returned", "unconfirmed"],
)
def test_one_event_is_answered_by_its_outcome(outcome: PublishOutcome, status: int, body: Any) -> None:
    """POST /events: 202 only when confirmed, 422 when invalid, 503 when refused or unconfirmed."""
    assert answered([outcome], batch=False) == (status, body)


def test_a_batch_is_answered_per_outcome() -> None:
    """POST /events/batch: one result per outcome, in order; refused and unconfirmed ones are `failed`, to retry."""
    status, body = answered([CONFIRMED, INVALID, NACKED, RETURNED, UNCONFIRMED], batch=True)
    assert status == 200
    assert body["results"] == [
        {"index": 0, "status": "accepted", "event_id": "e-1"},
        {"index": 1, "status": "rejected", "errors": [{"path": "$.payload.price", "message": "expected number"}]},
        {
            "index": 2,
            "status": "failed",
            "event_id": "e-3",
            "errors": [{"path": None, "message": "the broker refused this event: queue 'q' is full; retry it"}],
        },
        {
            "index": 3,
            "status": "failed",
            "event_id": "e-4",
            "errors": [
                {
                    "path": None,
                    "message": "the broker refused this event: returned unroutable: no queue took it; retry it",
                }
            ],
        },
        {
            "index": 4,
            "status": "failed",
            "event_id": None,
            "errors": [
                {"path": None, "message": "the broker became unreachable before it confirmed this event: retry it"}
            ],
        },
    ]


def test_a_batch_with_nothing_confirmed_and_the_broker_away_is_a_503() -> None:
    """POST /events/batch: no event confirmed and one unconfirmed means nothing is durable: 503 for the request."""
    status, body = answered([INVALID, NACKED, UNCONFIRMED], batch=True)
    assert status == 503
    assert body["errors"][0]["message"].startswith("the broker did not confirm within 0.5 s")
    assert answered([INVALID, NACKED], batch=True)[0] == 200


# --- legacy envelopes -----------------------------------------------------------------------


def legacy_envelope() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "event_type": OFFER_TYPE,
        "timestamp": "2026-11-02T14:03:27.512Z",
        "source": "magic-apron",
        "correlation_id": str(uuid.uuid4()),
        "payload": OFFER,
    }


def test_legacy_envelope_is_refused_by_default(client: TestClient) -> None:
    """A legacy envelope is a 422 that names the legacy switch and each legacy field."""
    response = client.post("/events", json=legacy_envelope())
    assert response.status_code == 422
    issues = errors_of(response)
    assert issues[0][0] == "$"
    assert "BLOODBANK_ACCEPT_LEGACY=true" in issues[0][1]
    assert [path for path, _ in issues[1:]] == ["$.id", "$.correlation_id", "$.source"]
    flagged = client.post("/events?legacy=true", json=legacy_envelope())
    assert "legacy switch is off" in errors_of(flagged)[0][1]
    assert depth(client) == 0


def test_legacy_envelope_is_upgraded_with_the_switch(make_client: ClientFactory) -> None:
    """With the switch on, a legacy envelope is upgraded losing nothing (source.app, source.meta.legacy_source)."""
    legacy = legacy_envelope()
    with started(make_client(accept_legacy=True)) as client:
        response = client.post("/events", json=legacy)
        assert response.status_code == 202
        assert response.json() == {"event_id": legacy["id"]}
        queued = decode_json(take(client, 1)[0])
        assert queued["source"]["app"] == "magic-apron"
        assert queued["source"]["meta"]["legacy_source"] == "magic-apron"
        assert queued["correlation_ids"] == [legacy["correlation_id"]]
        assert queued["payload"] == OFFER
        declined = client.post("/events?legacy=false", json=legacy_envelope())
        assert declined.status_code == 422
        assert client.post("/events?legacy=maybe", json=legacy_envelope()).status_code == 422
        invalid = client.post("/events?legacy=true", json={**legacy_envelope(), "id": "legacy-7"})
        assert errors_of(invalid)[0][0] == "$.event_id"


# --- health, metrics, schemas, the error shape ----------------------------------------------


def test_ready_only_once_started_and_connected(make_client: ClientFactory) -> None:
    """`/health/ready` is 503 before the lifespan ran and 200 after; `/health/live` is always 200."""
    client = make_client()
    assert client.get("/health/live").json() == {"status": "live"}
    not_started = client.get("/health/ready")
    assert not_started.status_code == 503
    assert errors_of(not_started) == [(None, "the gateway has not started: the topology is not verified")]
    with client:
        assert client.get("/health/ready").json() == {"status": "ready", "transport": "embedded"}


def test_metrics_count_publishes_by_event_type(client: TestClient) -> None:
    """`/metrics` is the Prometheus text with `bloodbank_publish_total` labelled by event type and outcome."""
    assert client.post("/events", json=short_form()).status_code == 202
    assert client.post("/events", json=short_form(payload={})).status_code == 422
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert f'bloodbank_publish_total{{event_type="{OFFER_TYPE}",outcome="ok"}} 1.0' in response.text
    assert f'bloodbank_publish_total{{event_type="{OFFER_TYPE}",outcome="invalid"}} 1.0' in response.text
    # Only the confirmed publish is timed: request to confirm.
    assert f'bloodbank_publish_duration_seconds_count{{event_type="{OFFER_TYPE}"}} 1.0' in response.text
    route = 'route="/events",service="bloodbank"'
    assert f'http_requests_total{{{route},status="202"}} 1.0' in response.text
    assert f'http_requests_total{{{route},status="422"}} 1.0' in response.text


def test_metrics_read_the_queues_from_the_broker(make_client: ClientFactory) -> None:
    """`bloodbank_queue_messages` and `bloodbank_consumers`: the broker's view, whatever the store does."""
    with started(make_client(watch_seconds=0.05, watch_consumers=["candystore.events", "nobody.yet"])) as client:
        assert client.post("/events", json=short_form()).status_code == 202
        store = 'queue="candystore.events"'

        def exposed() -> str:
            return str(client.get("/metrics").text)

        deadline = time.monotonic() + 10
        while f'bloodbank_queue_messages{{{store},state="ready"}} 1.0' not in exposed():
            assert time.monotonic() < deadline, exposed()
            time.sleep(0.05)
        text = exposed()
        assert f'bloodbank_queue_messages{{{store},state="unacked"}} 0.0' in text
        assert f"bloodbank_consumers{{{store}}} 0.0" in text
        assert 'bloodbank_queue_messages{queue="dlq.all",state="ready"} 0.0' in text
        assert 'queue="nobody.yet"' not in text  # a queue that does not exist is left out, not shown as empty


def test_a_refused_publish_is_logged_with_where_not_what(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """At info, the error paths of each refused event, never the payload: it may hold what must not reach the logs."""
    previous = structlog.get_config()
    configure_logs(LogConfig(json=True, level=logging.INFO), sys.stdout)
    try:
        secret = {**OFFER, "price": "card number zq-secret-qz"}
        assert client.post("/events", json=short_form(payload=secret)).status_code == 422
        batch = [short_form(), short_form(payload={})]
        assert client.post("/events/batch", json=batch).status_code == 200
    finally:
        structlog.configure(**previous)
    written = capsys.readouterr().out
    refused = [json.loads(line) for line in written.splitlines() if "publish refused" in line]
    single, in_batch = refused
    assert (single["level"], single["index"], single["errors"]) == ("info", 0, ["$.payload.price"])
    assert (in_batch["level"], in_batch["index"]) == ("info", 1)
    assert "$.payload.team" in in_batch["errors"]
    assert "zq-secret-qz" not in written


def test_schema_routes_serve_the_catalog(client: TestClient) -> None:
    """`/schemas` lists every event type, `/schemas/{type}` serves one; an unknown type is a 404 in the error shape."""
    items = client.get("/schemas").json()["items"]
    assert [item["event_type"] for item in items] == default_catalog().event_types
    assert client.get(f"/schemas/{OFFER_TYPE}").json()["examples"][0] == OFFER
    missing = client.get("/schemas/retail.offer.vanished.v1")
    assert missing.status_code == 404
    assert errors_of(missing) == [
        (None, "unknown event type 'retail.offer.vanished.v1': see GET /schemas for the registered ones")
    ]


def test_every_error_has_the_one_shape_and_is_documented(client: TestClient) -> None:
    """Unknown routes and wrong methods answer in the error shape, and OpenAPI documents it for every error status."""
    assert errors_of(client.get("/nowhere")) == [(None, "no route /nowhere: see /docs for the routes of this gateway")]
    assert errors_of(client.get("/events")) == [
        (None, "GET is not allowed on /events: see /docs for the routes of this gateway")
    ]
    document = client.get("/openapi.json").json()
    reference = {"$ref": "#/components/schemas/ErrorBody"}
    events = document["paths"]["/events"]["post"]["responses"]
    for status in ("401", "413", "422", "503"):
        assert events[status]["content"]["application/json"]["schema"] == reference
    schema = document["paths"]["/schemas/{event_type}"]["get"]["responses"]
    assert schema["404"]["content"]["application/json"]["schema"] == reference
    assert schema["422"]["content"]["application/json"]["schema"] == reference
    assert "HTTPValidationError" not in document["components"]["schemas"]


# --- RabbitMQ -------------------------------------------------------------------------------


@pytest.mark.rabbitmq
def test_gateway_publishes_to_rabbitmq(rabbitmq_url: str, tmp_path: Path) -> None:
    """On RabbitMQ the gateway is ready, answers 202 after the confirm, and the event is on the bound queue."""
    settings = BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path, publish_timeout=5)
    with started(TestClient(create_gateway(settings), base_url="http://localhost")) as client:
        assert client.get("/health/ready").json() == {"status": "ready", "transport": "rabbitmq"}
        sent = envelope()
        assert client.post("/events", json=sent).status_code == 202
        assert decode_json(take(client, 1)[0]) == sent
