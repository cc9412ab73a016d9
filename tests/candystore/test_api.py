"""Candystore's query API over a real store, on SQLite and PostgreSQL: events, trace, stats, health, OpenAPI.

Routes run through httpx's ASGI transport in the test's event loop.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import msgspec
import pytest
from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry, Counter

from bloodbank import cloudevents
from candystore.store import EventStore
from candystore.store.dead_letters import DeadLetter
from holyfields import default_catalog
from tests.candystore.api_helpers import OFFER_TYPE, client_for, errors_of, make_api
from tests.candystore.test_store_contract import envelope, json_values


@pytest.fixture
async def client(store, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_api(store, tmp_path)) as api:
        yield api


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["event_id"] for item in response.json()["items"]]


BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- GET /events -----------------------------------------------------------------------------


async def test_events_filters_select_matching_events(store, client):
    """Each query filter, payload fields included, narrows GET /events as it narrows the store."""
    root = envelope("github.pr.opened.v1", app="github", at=BASE, payload={"repo": "a", "n": 3})
    child = envelope("n8n.workflow.started.v1", app="n8n", at=BASE + timedelta(minutes=1), parents=[root["event_id"]])
    agent = envelope(
        "theboard.meeting.created.v1",
        app="theboard",
        at=BASE + timedelta(minutes=2),
        agent_context={"type": "claude", "name": "scribe"},
        payload={"repo": "3", "ok": True},
    )
    await store.store_batch([agent, child, root])
    everything = [root["event_id"], child["event_id"], agent["event_id"]]
    assert ids(await client.get("/events")) == everything
    assert ids(await client.get("/events", params={"order": "desc"})) == everything[::-1]
    assert ids(await client.get("/events", params={"event_type": "n8n.#"})) == [child["event_id"]]
    assert ids(await client.get("/events", params={"event_type": "*.workflow.*.v1"})) == [child["event_id"]]
    assert ids(await client.get("/events", params={"source_app": "github"})) == [root["event_id"]]
    assert ids(await client.get("/events", params={"since": "2026-03-01T14:01:00+02:00"})) == everything[1:]
    assert ids(await client.get("/events", params={"until": "2026-03-01T12:01:00Z"})) == everything[:1]
    assert ids(await client.get("/events", params={"correlation_id": root["event_id"]})) == [child["event_id"]]
    assert ids(await client.get("/events", params={"agent_name": "scribe"})) == [agent["event_id"]]
    assert ids(await client.get("/events", params={"payload.n": "3"})) == [root["event_id"]]
    assert ids(await client.get("/events", params={"payload.n": "3.0"})) == [root["event_id"]]
    assert ids(await client.get("/events", params={"payload.repo": "3"})) == []  # 3 is a number, "3" is not
    assert ids(await client.get("/events", params={"payload.repo": '"3"'})) == [agent["event_id"]]
    assert ids(await client.get("/events", params={"payload.repo": "a"})) == [root["event_id"]]
    assert ids(await client.get("/events", params={"payload.ok": "true"})) == [agent["event_id"]]


async def test_events_pages_by_cursor_stay_stable_while_events_arrive(store, client):
    """Following next_cursor returns every event once, in order, though newer events arrive in between."""
    first = [envelope(at=BASE + timedelta(seconds=i)) for i in range(5)]
    await store.store_batch(first)
    page = (await client.get("/events", params={"limit": 2})).json()
    seen = [item["event_id"] for item in page["items"]]
    await store.store_batch([envelope(at=BASE + timedelta(hours=1))])
    while page["next_cursor"]:
        page = (await client.get("/events", params={"limit": 2, "cursor": page["next_cursor"]})).json()
        seen += [item["event_id"] for item in page["items"]]
    assert seen[:5] == [e["event_id"] for e in first]
    assert len(seen) == len(set(seen)) == 6


async def test_bad_event_queries_are_422_naming_the_parameter(client):
    """A naive time, a limit out of range, a bad order, a bad cursor, an unknown or empty filter: 422 with paths."""
    cases = {
        "since=2026-03-01T12:00:00": ("query.since", None),
        "until=yesterday": ("query.until", None),
        "limit=0": ("query.limit", "Input should be greater than or equal to 1"),
        "limit=1001": ("query.limit", "Input should be less than or equal to 1000"),
        "order=sideways": ("query.order", "Input should be 'asc' or 'desc'"),
        "cursor=garbage": (
            "query.cursor",
            "invalid cursor 'garbage': pass back the next_cursor of a previous page unchanged",
        ),
        "event-type=x": ("query.event-type", None),
        "payload.=1": ("query.payload.", "name a payload field, e.g. payload.store_id=s1"),
        "payload.a=1&payload.a=2": ("query.payload.a", "given more than once: a field can equal one value"),
        f"payload.n={2**70}": (
            "query.payload.n",
            f"{2**70} is beyond 64-bit integers, which are all a filter compares",
        ),
        "event_type=a%00b": ("query.event_type", "contains the character U+0000, which no stored value holds"),
    }
    for query, (path, message) in cases.items():
        response = await client.get(f"/events?{query}")
        assert response.status_code == 422, query
        ((got_path, got_message),) = errors_of(response)
        assert got_path == path, query
        if message is not None:
            assert got_message == message
    unknown = errors_of(await client.get("/events?event-type=x"))[0][1]
    assert unknown.startswith("unknown query parameter; this route takes agent_name, correlation_id, cursor,")


def forged_cursor(moment: str, event_id: str = "0" * 32) -> str:
    """A cursor in the store's format, but not one it issued."""
    return base64.urlsafe_b64encode(msgspec.json.encode([moment, event_id])).decode().rstrip("=")


OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"]
FOREIGN_CURSORS = [
    "garbage",
    base64.urlsafe_b64encode(b"\x00\xff not json").decode(),
    base64.urlsafe_b64encode(b'{"moment": 1}').decode(),
    *(forged_cursor(moment) for moment in OUT_OF_RANGE),
]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("retail*", "the word 'retail*' mixes a wildcard with other characters"),
        ("retail..offer", "it has an empty word ('..')"),
        (".retail", "it starts with a dot"),
        ("Retail.#", "the word 'Retail' has 'R', which no event type holds"),
        ("", "it is empty"),
        ("a" * 256, "it has 256 characters, more than the 255 allowed"),
    ],
)
async def test_a_malformed_type_pattern_is_422_saying_why(client, pattern, reason):
    """GET /events, /dlq and their type pattern: a malformed one is a 422 on query.event_type with the reason."""
    for route in ("/events", "/dlq"):
        ((path, message),) = errors_of(await client.get(route, params={"event_type": pattern}))
        assert path == "query.event_type"
        assert message.startswith(f"not a valid event-type pattern: {reason}"), message


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("route", ["/events", "/dlq", "/stats"])
@pytest.mark.parametrize("name", ["since", "until"])
async def test_a_time_the_store_cannot_hold_is_422(client, route, name, moment):
    """since and until outside the years 1970 to 9999 in UTC are a 422 naming the parameter, never a 500."""
    response = await client.get(route, params={name: moment})
    ((path, message),) = errors_of(response)
    assert response.status_code == 422
    assert path == f"query.{name}"
    assert repr(moment) in message


@pytest.mark.parametrize("cursor", FOREIGN_CURSORS)
async def test_a_cursor_the_store_did_not_issue_is_422(client, cursor):
    """Garbage, base64 of garbage and forged cursors are a 422 on query.cursor, on /events and /dlq."""
    for route in ("/events", "/dlq"):
        response = await client.get(route, params={"cursor": cursor})
        assert response.status_code == 422, route
        ((path, message),) = errors_of(response)
        assert path == "query.cursor"
        assert message.endswith("pass back the next_cursor of a previous page unchanged")


# --- GET /events/{id} ------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=json_values)
async def test_get_event_returns_the_envelope_exactly_as_published(store, client, meta):
    """Any JSON in the envelope (unicode, big and float numbers, nulls, nesting) comes back byte-exact."""
    event = envelope(
        at="2026-03-01T14:00:00.5+02:00",
        source={"host": "box", "type": "manual", "app": "x", "meta": meta},
        payload={"text": "Grüße 👋 终", "big": 2**80, "f": 0.1, "none": None, "deep": [{"a": [meta]}]},
    )
    await store.store_batch([event])
    response = await client.get(f"/events/{event['event_id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    got = msgspec.json.decode(response.content)  # what is stored comes back, whatever today's edge refuses
    expected = {**event, "timestamp": "2026-03-01T12:00:00.5Z"}
    assert got == expected
    assert repr(got) == repr(expected)  # 1 vs 1.0, -0.0, key order
    assert response.text == await store.document(event["event_id"])


async def test_get_event_as_a_cloudevent_gives_back_what_a_producer_sent(store, client):
    """A CloudEvent from a foreign producer, stored as its envelope, comes back with its own id, source and extension
    when asked for CloudEvents; the SDK reads it."""
    sent = {
        "specversion": "1.0",
        "id": "delivery-42",
        "source": "https://github.com/acme/shop",
        "type": OFFER_TYPE,
        "time": "2026-03-01T12:00:00.5Z",
        "datacontenttype": "application/json",
        "region": "eu-west-1",
        "data": default_catalog().get(OFFER_TYPE).examples[0],  # type: ignore[union-attr]
    }
    document = cloudevents.envelope_document(sent, catalog=default_catalog())
    event = {**document, "version": "1.0.0", "correlation_ids": []}
    await store.store_batch([event])
    response = await client.get(f"/events/{event['event_id']}", headers={"accept": cloudevents.STRUCTURED})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == cloudevents.STRUCTURED
    got = msgspec.json.decode(response.content)
    assert {key: got[key] for key in sent} == sent
    assert got["dataschema"] == default_catalog().get(OFFER_TYPE).schema_id  # type: ignore[union-attr]
    parsed = http.from_http(http.HTTPMessage(dict(response.headers), response.content), JSONFormat())
    assert (parsed.get_id(), parsed.get_source(), parsed.get_data()) == (sent["id"], sent["source"], sent["data"])
    plain = await client.get(f"/events/{event['event_id']}")
    assert plain.headers["content-type"] == "application/json"
    assert msgspec.json.decode(plain.content)["event_id"] == event["event_id"]


async def test_get_event_unknown_is_404_and_malformed_is_422(client):
    """An unknown id is a 404 naming it; an id that is not a UUID is a 422 on the path parameter."""
    unknown = str(uuid.uuid4())
    response = await client.get(f"/events/{unknown}")
    assert response.status_code == 404
    assert errors_of(response) == [("path.event_id", f"no event {unknown} is stored")]
    response = await client.get("/events/not-a-uuid")
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "path.event_id"


# --- GET /events/trace/{id} ------------------------------------------------------------------


async def test_trace_returns_the_graph_with_placeholders_and_truncation(store, client):
    """A diamond under a missing parent: envelopes, a placeholder, every edge; max_nodes truncates."""
    ghost = str(uuid.uuid4())
    top = envelope(at=BASE, parents=[ghost])
    left = envelope(at=BASE + timedelta(seconds=1), parents=[top["event_id"]])
    right = envelope(at=BASE + timedelta(seconds=2), parents=[top["event_id"]])
    bottom = envelope(at=BASE + timedelta(seconds=3), parents=[left["event_id"], right["event_id"]])
    await store.store_batch([top, left, right, bottom])
    response = await client.get(f"/events/trace/{bottom['event_id']}")
    assert response.status_code == 200
    trace = response.json()
    assert trace["root"] == bottom["event_id"]
    assert trace["truncated"] is False
    nodes = {node["event_id"]: node for node in trace["nodes"]}
    assert nodes[ghost] == {"event_id": ghost, "placeholder": True}
    assert nodes[top["event_id"]] == top
    assert set(trace["ancestors"]) == {left["event_id"], right["event_id"], top["event_id"], ghost}
    assert {(e["parent"], e["child"]) for e in trace["edges"]} == {
        (ghost, top["event_id"]),
        (top["event_id"], left["event_id"]),
        (top["event_id"], right["event_id"]),
        (left["event_id"], bottom["event_id"]),
        (right["event_id"], bottom["event_id"]),
    }
    cut = (await client.get(f"/events/trace/{top['event_id']}", params={"max_nodes": 2})).json()
    assert cut["truncated"] is True
    assert len(cut["nodes"]) == 2


async def test_trace_errors_name_what_is_wrong(client):
    """An unknown event is a 404; max_nodes above the server's ceiling or below one is a 422."""
    unknown = str(uuid.uuid4())
    response = await client.get(f"/events/trace/{unknown}")
    assert response.status_code == 404
    assert errors_of(response) == [("path.event_id", f"no event {unknown} is stored or named as a parent")]
    response = await client.get(f"/events/trace/{unknown}", params={"max_nodes": 51})
    assert errors_of(response) == [("query.max_nodes", "must be at most 50, got 51")]
    response = await client.get(f"/events/trace/{unknown}", params={"max_nodes": 0})
    assert errors_of(response)[0][0] == "query.max_nodes"


# --- GET /stats ------------------------------------------------------------------------------


async def test_stats_count_by_type_source_and_hour_with_rates_and_dead_letters(store, client):
    """Counts in the window by type, source and hour, the last hour's rate, and dead letters by state."""
    now = datetime.now(UTC).replace(microsecond=0)
    hour = now.replace(minute=0, second=0) - timedelta(hours=3)
    events = [
        envelope(OFFER_TYPE, app="shop", at=hour + timedelta(minutes=5)),
        envelope(OFFER_TYPE, app="shop", at=hour + timedelta(minutes=6)),
        envelope("github.pr.opened.v1", app="github", at=hour + timedelta(hours=1, minutes=1)),
        envelope("github.pr.opened.v1", app="github", at=now - timedelta(seconds=30)),
        envelope(OFFER_TYPE, app="shop", at=hour - timedelta(hours=30)),  # outside the window
    ]
    await store.store_batch(events)
    await store.keep_dead_letters([DeadLetter(body=b"x", routing_key="dlq.a", headers={"n": 1})])
    since, until = hour.isoformat(), (now + timedelta(minutes=1)).isoformat()
    response = await client.get("/stats", params={"since": since, "until": until})
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total"] == 4
    assert stats["by_type"] == [
        {"event_type": "github.pr.opened.v1", "count": 2},
        {"event_type": OFFER_TYPE, "count": 2},
    ]
    assert stats["by_source"] == [{"source_app": "github", "count": 2}, {"source_app": "shop", "count": 2}]
    by_hour = [(datetime.fromisoformat(h["hour"]), h["count"]) for h in stats["by_hour"]]
    assert by_hour[:2] == [(hour, 2), (hour + timedelta(hours=1), 1)]
    assert sum(count for _, count in by_hour) == 4
    assert stats["rates"]["last_hour"] == pytest.approx(1 / 3600)
    assert stats["dead_letters"] == {"open": 1, "resolved": 0, "discarded": 0}
    default = (await client.get("/stats")).json()
    assert len(default["by_hour"]) in {24, 25}  # the last 24 hours, the first one partial


async def test_stats_refuse_an_empty_or_overlong_window(client):
    """since after until, or a window of more than 31 days, is a 422 on since; an empty window counts nothing."""
    response = await client.get("/stats", params={"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    assert errors_of(response) == [("query.since", "since must not be after until (2026-03-01T00:00:00+00:00)")]
    empty = await client.get("/stats", params={"since": "2026-03-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    assert empty.status_code == 200
    assert empty.json()["by_hour"] == []
    response = await client.get("/stats", params={"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    assert errors_of(response) == [("query.since", "the window spans more than 31 days: narrow since and until")]


# --- health, metrics, OpenAPI, outages -------------------------------------------------------


async def test_health_reports_database_and_broker(store, tmp_path):
    """Ready needs the database and, when given, the broker; live needs nothing."""
    connected = True
    api = make_api(store, tmp_path, broker_connected=lambda: connected)
    async with client_for(api) as client:
        assert (await client.get("/health/live")).json() == {"status": "live"}
        ready = await client.get("/health/ready")
        assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}
        connected = False
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert errors_of(down) == [(None, "broker: not connected; the transport is reconnecting")]


async def test_metrics_serve_the_registry_given(store, tmp_path):
    """/metrics is the Prometheus text of the registry passed to create_api."""
    registry = CollectorRegistry()
    Counter("candystore_probe", "A test counter.", registry=registry).inc(3)
    async with client_for(make_api(store, tmp_path, registry=registry)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "candystore_probe_total 3.0" in response.text


async def test_database_outage_is_503_with_retry_after(tmp_path):
    """With the database unreachable, queries answer 503 with Retry-After and ready says why."""
    unreachable = EventStore.open("postgresql+asyncpg://postgres@127.0.0.1:1/postgres", connect_args={"timeout": 2})
    try:
        async with client_for(make_api(unreachable, tmp_path)) as client:
            for url in ("/events", f"/events/{uuid.uuid4()}", "/stats", "/dlq"):
                response = await client.get(url)
                assert response.status_code == 503, url
                assert response.headers["retry-after"] == "5"
                ((path, message),) = errors_of(response)
                assert path is None
                assert message.startswith("the database is unavailable")
                assert message.endswith("retry after 5 s")
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert errors_of(ready)[0][1].startswith("database: the database is unavailable")
    finally:
        await unreachable.close()


@pytest.mark.parametrize("database", ["sqlite_database"], indirect=True)
async def test_openapi_documents_every_route_with_models_and_one_error_shape(client):
    """/openapi.json has the routes, response models, and the error body on every 4xx/5xx."""
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths) >= {
        "/events",
        "/events/{event_id}",
        "/events/trace/{event_id}",
        "/stats",
        "/dlq",
        "/dlq/{dead_letter_id}",
        "/dlq/replay",
        "/health/live",
        "/health/ready",
        "/metrics",
    }
    schemas = document["components"]["schemas"]
    assert {"EventPage", "EventEnvelope", "TraceModel", "StatsModel", "DeadLetterModel", "ErrorBody"} <= set(schemas)
    assert "HTTPValidationError" not in schemas

    def ok_schema(path: str, method: str) -> dict[str, Any]:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]

    assert ok_schema("/events", "get") == {"$ref": "#/components/schemas/EventPage"}
    assert ok_schema("/dlq/replay", "post") == {"$ref": "#/components/schemas/ReplayResponse"}
    delete = paths["/dlq/{dead_letter_id}"]["delete"]
    assert {p["name"]: p["required"] for p in delete["parameters"] if p["in"] == "query"} == {
        "actor": False,  # the client with API keys; without, the route asks for it (tests/test_access.py)
        "reason": True,
    }
    for path_item in paths.values():
        for operation in path_item.values():
            for status, answer in operation["responses"].items():
                if status[0] in "45":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize("database", ["sqlite_database"], indirect=True)
async def test_unknown_route_is_404_in_the_error_shape(client):
    """A route that does not exist answers in the one error shape."""
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert errors_of(response) == [(None, "no route /nowhere: see /docs for the routes of Candystore")]
