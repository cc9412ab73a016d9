"""Candystore's dead-letter API over a real store (SQLite and PostgreSQL) and, for replays, an embedded broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import msgspec
import pytest

from bloodbank import ConsumerSpec, Publisher
from bloodbank.topology import Headers
from candystore.store.dead_letters import DeadLetter, DeadLetterState
from holyfields import default_validator
from tests.candystore.api_helpers import SOURCE, client_for, errors_of, make_api, offer
from tests.candystore.bus_helpers import received, watched_bus

WATCH = ConsumerSpec("api.watch", ("#",))


NOT_RFC_3339 = "is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'"


@pytest.fixture
async def client(store, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_api(store, tmp_path)) as api:
        yield api


def dead_letter(body: bytes, *, consumer: str = "pricing.checker", error: str = "RuntimeError: boom") -> DeadLetter:
    document = msgspec.json.decode(body) if body.startswith(b"{") else {}
    return DeadLetter(
        body=body,
        routing_key=f"dlq.{consumer}",
        headers={Headers.CONSUMER: consumer, "n": str(uuid.uuid4())},
        consumer=consumer,
        event_type=document.get("event_type"),
        error=error,
        attempts=3,
    )


async def kept(store, *letters: DeadLetter) -> list[str]:
    await store.keep_dead_letters(list(letters))
    rows = (await store.dead_letters(limit=1000)).items
    by_marker = {row.headers["n"]: row.id for row in rows}
    return [by_marker[item.headers["n"]] for item in letters]


async def test_dlq_lists_with_filters_and_pages(store, client):
    """GET /dlq filters by consumer, type, reason, state and time, newest first, paged by cursor."""
    a, b, c = await kept(
        store,
        dead_letter(msgspec.json.encode(offer()), consumer="pricing.checker", error="TimeoutError: slow"),
        dead_letter(b"\xff", consumer="pricing.checker", error="InvalidEvent: $: not valid JSON"),
        dead_letter(msgspec.json.encode(offer()), consumer="stock.sync", error="KeyError: 'sku'"),
    )
    await store.discard_dead_letter(c, actor="ops", reason="obsolete")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    async def listed(**params: Any) -> set[str]:
        response = await client.get("/dlq", params=params)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await listed() == {a, b, c}
    assert await listed(consumer="pricing.checker") == {a, b}
    assert await listed(event_type="retail.#") == {a, c}
    assert await listed(event_type="*.offer.*.v1") == {a, c}
    assert await listed(event_type="retail.*") == set()  # `*` is exactly one word
    assert await listed(reason="invalidevent") == {b}
    assert await listed(state="discarded") == {c}
    assert await listed(state="open", consumer="stock.sync") == set()
    assert await listed(since=an_hour_ago) == {a, b, c}
    assert await listed(until=an_hour_ago) == set()
    first = (await client.get("/dlq", params={"limit": 2})).json()
    rest = (await client.get("/dlq", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert len(first["items"]) == 2
    assert rest["next_cursor"] is None
    assert {item["id"] for item in first["items"] + rest["items"]} == {a, b, c}
    response = await client.get("/dlq", params={"state": "lost"})
    assert errors_of(response) == [("query.state", "Input should be 'open', 'resolved' or 'discarded'")]


async def test_dlq_get_one_shows_body_and_audit_fields(store, client):
    """GET /dlq/{id} returns the letter with its body (base64 when not UTF-8); unknown ids are 404."""
    (letter_id,) = await kept(store, dead_letter(b"\xff\x00raw"))
    response = await client.get(f"/dlq/{letter_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["body"], body["body_encoding"], body["state"]) == ("/wByYXc=", "base64", "open")
    assert (body["consumer"], body["attempts"], body["resolved_by"]) == ("pricing.checker", 3, None)
    unknown = str(uuid.uuid4())
    response = await client.get(f"/dlq/{unknown}")
    assert response.status_code == 404
    assert errors_of(response) == [("path.dead_letter_id", f"no dead letter {unknown}")]
    assert (await client.get("/dlq/123")).status_code == 404  # no dead letter has an id that is not a UUID


async def test_dlq_discard_keeps_the_row_with_who_and_why(store, client):
    """DELETE /dlq/{id} with actor and reason marks it discarded (kept); again is a 409 saying its state."""
    (letter_id,) = await kept(store, dead_letter(b"{}"))
    response = await client.delete(f"/dlq/{letter_id}", params={"actor": "ops@example.com", "reason": "test data"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["resolved_by"], body["resolution_note"]) == (
        "discarded",
        "ops@example.com",
        "test data",
    )
    assert body["resolved_at"] is not None
    assert (await store.dead_letter(letter_id)).state is DeadLetterState.DISCARDED
    again = await client.delete(f"/dlq/{letter_id}", params={"actor": "x", "reason": "y"})
    assert again.status_code == 409
    assert errors_of(again) == [
        (None, f"dead letter {letter_id} is discarded, not open: only open dead letters can be replayed or discarded")
    ]
    missing = await client.delete(f"/dlq/{letter_id}")
    assert missing.status_code == 422
    assert errors_of(missing) == [("query.reason", "Field required")]

    assert (await client.delete(f"/dlq/{uuid.uuid4()}", params={"actor": "x", "reason": "y"})).status_code == 404


@pytest.fixture
async def transport(tmp_path):
    async with watched_bus(tmp_path / "bus.sqlite3", WATCH) as embedded:
        yield embedded


@pytest.fixture
async def replaying(store, transport, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)
    async with client_for(make_api(store, tmp_path, publisher=publisher)) as api:
        yield api


async def test_dlq_replay_by_ids_publishes_and_resolves(store, transport, replaying):
    """POST /dlq/replay by ids republishes marked as a replay and resolves; a bad body is answered per item."""
    event = offer()
    good, bad = await kept(store, dead_letter(msgspec.json.encode(event)), dead_letter(b"not json"))
    response = await replaying.post("/dlq/replay", json={"actor": "ops", "ids": [good, bad]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["replayed"] == 1
    assert [(r["id"], r["outcome"]) for r in body["results"]] == [(good, "replayed"), (bad, "invalid")]
    assert body["results"][1]["reason"].startswith("invalid event: $: the body is not valid JSON")
    (delivery,) = await received(transport, WATCH, expect=1)
    assert delivery.headers[Headers.REPLAY] == f"dead-letter:{good}"
    assert msgspec.json.decode(delivery.body) == event
    resolved = (await replaying.get(f"/dlq/{good}")).json()
    assert (resolved["state"], resolved["resolved_by"], resolved["replayed_event_id"]) == (
        "resolved",
        "ops",
        event["event_id"],
    )
    assert (await replaying.get(f"/dlq/{bad}")).json()["state"] == "open"


async def test_dlq_replay_checks_every_id_before_publishing(store, transport, replaying):
    """An unknown id is a 404 and a closed one a 409, each at its index; nothing is published."""
    (good, done) = await kept(store, dead_letter(msgspec.json.encode(offer())), dead_letter(b"{}"))
    await store.discard_dead_letter(done, actor="ops", reason="junk")
    unknown = str(uuid.uuid4())
    response = await replaying.post("/dlq/replay", json={"actor": "ops", "ids": [good, unknown]})
    assert response.status_code == 404
    assert errors_of(response) == [("$.ids[1]", f"no dead letter {unknown}")]
    response = await replaying.post("/dlq/replay", json={"actor": "ops", "ids": [done, good]})
    assert response.status_code == 409
    assert errors_of(response) == [("$.ids[0]", f"dead letter {done} is discarded, not open: it cannot be replayed")]
    await received(transport, WATCH, expect=0)
    assert (await store.dead_letter(good)).state is DeadLetterState.OPEN


async def test_dlq_replay_by_filter_and_bad_requests(store, transport, replaying):
    """A filter replays the matching open letters; ids with filter, no actor, naive times or U+0000 are 422."""
    events = [offer(), offer()]
    await kept(
        store,
        dead_letter(msgspec.json.encode(events[0]), consumer="a"),
        dead_letter(msgspec.json.encode(events[1]), consumer="b"),
    )
    response = await replaying.post("/dlq/replay", json={"actor": "ops", "filter": {"consumer": "a"}})
    assert response.status_code == 200, response.text
    assert response.json()["replayed"] == 1
    (delivery,) = await received(transport, WATCH, expect=1)
    assert msgspec.json.decode(delivery.body)["event_id"] == events[0]["event_id"]
    both = await replaying.post("/dlq/replay", json={"actor": "ops", "ids": [str(uuid.uuid4())], "filter": {}})
    assert errors_of(both) == [("$", "give either ids or filter (not both)")]
    nobody = await replaying.post("/dlq/replay", json={"actor": " ", "ids": [str(uuid.uuid4())]})
    assert nobody.status_code == 404  # a blank actor is anonymous, as is none, on a platform without keys
    naive = await replaying.post("/dlq/replay", json={"actor": "o", "filter": {"since": "2026-03-01T00:00:00"}})
    ((path, message),) = errors_of(naive)
    assert (path, message) == ("$.filter.since", f"'2026-03-01T00:00:00' {NOT_RFC_3339}")
    nul = await replaying.post("/dlq/replay", json={"actor": "o\u0000", "filter": {"consumer": "a\u0000"}})
    assert nul.status_code == 422  # U+0000 is refused at the edge: no stored text can hold it
    assert errors_of(nul)[0][0] == "$.actor"
    typo = await replaying.post("/dlq/replay", json={"actor": "o", "filter": {"consumr": "a"}})
    assert errors_of(typo) == [("$.filter.consumr", "Extra inputs are not permitted")]


@pytest.mark.parametrize(
    ("selection", "path", "message"),
    [
        (
            {"event_type": "retail*"},
            "$.filter.event_type",
            "not a valid event-type pattern: the word 'retail*' mixes a wildcard with other characters",
        ),
        ({"since": "0001-01-01T00:00:00+14:00"}, "$.filter.since", None),
        ({"until": "9999-12-31T23:59:59-14:00"}, "$.filter.until", None),
    ],
)
async def test_dlq_replay_refuses_a_malformed_pattern_or_an_extreme_time(replaying, selection, path, message):
    """A replay filter with a malformed type pattern or a time the store cannot hold is a 422 naming the field."""
    response = await replaying.post("/dlq/replay", json={"actor": "ops", "filter": selection})
    assert response.status_code == 422
    ((got_path, got_message),) = errors_of(response)
    assert got_path == path
    assert got_message.startswith(message or "")


async def test_dlq_replay_without_a_publisher_is_503(store, client):
    """An API built without a publisher cannot replay and says so."""
    (letter_id,) = await kept(store, dead_letter(msgspec.json.encode(offer())))
    response = await client.post("/dlq/replay", json={"actor": "ops", "ids": [letter_id]})
    assert response.status_code == 503
    assert errors_of(response) == [(None, "replay is unavailable: this Candystore is not connected to the bus")]
