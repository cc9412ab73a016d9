"""Acting on many conflicts at once, the product and store filters, and a resolution rate with nothing due yet."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry

from gumdrop.access_control import Access
from gumdrop.principals import Client, KeyRing, Scope, hash_key
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from visibility.api import create_api
from visibility.api.conflicts import MAX_BULK
from visibility.domain.okr import OkrInputs, compute_okr
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.settings import VisibilitySettings

from .retail import at
from .test_api import NOW, RULES, Sent, errors_of, seed

DAY = timedelta(days=1)


def api(store: Any, *, access: Access | None = None, now: datetime = NOW) -> httpx.AsyncClient:
    lifecycle = Lifecycle(store, rules=RULES, publisher=OutboxPublisher(store, Sent()), now=lambda: now)
    app = create_api(
        store,
        settings=VisibilitySettings(),
        lifecycle=lifecycle,
        metrics=VisibilityMetrics(CollectorRegistry()),
        access=access or Access.open(),
        rules=lambda: RULES,
        broker_connected=lambda: True,
        now=lambda: now,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture
async def client(store):
    await seed(store)
    async with api(store) as http:
        yield http


async def ids_by_store(client: httpx.AsyncClient) -> dict[str, str]:
    items = (await client.get("/conflicts")).json()["items"]
    return {item["store_id"]: item["conflict_id"] for item in items}


async def test_each_conflict_is_judged_on_its_own_and_the_applied_ones_commit(client, store):
    """Applied, refused in its status and not found are answered per id in order; the note is on each applied one."""
    ids = await ids_by_store(client)
    single = await client.post(f"/conflicts/{ids['s1']}/actions", json={"action": "acknowledge", "actor": "kim"})
    assert single.status_code == 200
    missing = str(uuid.uuid4())
    answer = await client.post(
        "/conflict-actions",
        json={"conflict_ids": [ids["s0"], ids["s1"], missing], "action": "acknowledge", "actor": "sam", "note": "mine"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["action"], body["applied"]) == ("acknowledge", 1)
    assert [(r["conflict_id"], r["outcome"], r["status"]) for r in body["results"]] == [
        (ids["s0"], "applied", "acknowledged"),
        (ids["s1"], "refused", "acknowledged"),
        (missing, "not_found", None),
    ]
    assert body["results"][0]["message"] is None
    assert body["results"][1]["message"].startswith(f"conflict {ids['s1']} is already acknowledged since")
    assert body["results"][2]["message"] == f"no conflict {missing}"
    detail = (await client.get(f"/conflicts/{ids['s0']}")).json()
    assert [(a["action"], a["actor"], a["note"]) for a in detail["actions"]] == [("acknowledge", "sam", "mine")]

    accepted = await client.post(
        "/conflict-actions",
        json={"conflict_ids": [ids["s0"], ids["s1"]], "action": "accept", "note": "  promo agreed  "},
    )
    assert [(r["outcome"], r["status"]) for r in accepted.json()["results"]] == [
        ("applied", "accepted"),
        ("applied", "accepted"),
    ]
    for store_id in ("s0", "s1"):
        last = (await client.get(f"/conflicts/{ids[store_id]}")).json()["actions"][-1]
        assert (last["action"], last["actor"], last["note"]) == ("accept", "anonymous", "promo agreed")
    disputed = await client.post(
        "/conflict-actions", json={"conflict_ids": [ids["s0"]], "action": "dispute", "note": "late"}
    )
    [result] = disputed.json()["results"]
    assert (result["outcome"], result["status"]) == ("refused", "accepted")
    assert "is already resolved (accepted since" in result["message"]
    resolved = [event for event in await store.unpublished() if event.event_type == "visibility.conflict.resolved.v1"]
    assert sorted(event.payload["conflict_id"] for event in resolved) == sorted([ids["s0"], ids["s1"]])


async def test_bounds_and_bad_bodies_are_422_naming_the_field(client):
    """No ids, too many, a repeat, a bad id, an action that is not bulk, a missing reason and extras name their path."""
    some = str(uuid.uuid4())

    async def refused(body: dict[str, Any]) -> set[str | None]:
        answer = await client.post("/conflict-actions", json=body)
        assert answer.status_code == 422, answer.text
        return {path for path, _ in errors_of(answer)}

    assert await refused({"conflict_ids": [], "action": "acknowledge"}) == {"$.conflict_ids"}
    too_many = [str(uuid.uuid4()) for _ in range(MAX_BULK + 1)]
    assert await refused({"conflict_ids": too_many, "action": "acknowledge"}) == {"$.conflict_ids"}
    assert await refused({"conflict_ids": [some, some], "action": "acknowledge"}) == {"$.conflict_ids"}
    assert await refused({"conflict_ids": ["nope"], "action": "acknowledge"}) == {"$.conflict_ids[0]"}
    assert await refused({"conflict_ids": [some], "action": "fix", "extra": 1}) == {"$.action", "$.extra"}
    assert await refused({"conflict_ids": [some], "action": "dispute", "note": " "}) == {"$.note"}
    assert await refused({"action": "acknowledge", "actor": ""}) == {"$.conflict_ids", "$.actor"}
    repeated = await client.post("/conflict-actions", json={"conflict_ids": [some, some], "action": "acknowledge"})
    assert f"conflict {some} is named twice" in errors_of(repeated)[0][1]
    query = await client.post("/conflict-actions", params={"x": "1"}, json={"conflict_ids": [some], "action": "accept"})
    assert {path for path, _ in errors_of(query)} == {"query.x"}
    exactly = [str(uuid.uuid4()) for _ in range(MAX_BULK)]
    answer = await client.post("/conflict-actions", json={"conflict_ids": exactly, "action": "acknowledge"})
    assert answer.status_code == 200
    assert {result["outcome"] for result in answer.json()["results"]} == {"not_found"}


def keyed_access() -> Access:
    ring = KeyRing.of(
        [
            (Client("reader", frozenset({Scope.READ})), [hash_key("reader-key-0123456789")]),
            (Client("ops", frozenset({Scope.OPERATE})), [hash_key("ops-key-0123456789")]),
        ]
    )
    return Access(ring, limiter=MemoryRateLimiter(), default_rate=Rate(1000, 1000), failure_rate=Rate(1, 1000))


async def test_with_keys_acting_on_many_needs_operate_and_records_the_client(store):
    """Without a key 401, a reader 403; an operator's actions are recorded as the client, who may not name another."""
    await seed(store)
    reader = {"Authorization": "Bearer reader-key-0123456789"}
    operator = {"X-API-Key": "ops-key-0123456789"}
    async with api(store, access=keyed_access()) as client:
        [first, *_] = (await client.get("/conflicts", headers=reader)).json()["items"]
        body = {"conflict_ids": [first["conflict_id"]], "action": "acknowledge"}
        assert (await client.post("/conflict-actions", json=body)).status_code == 401
        assert (await client.post("/conflict-actions", json=body, headers=reader)).status_code == 403
        impostor = await client.post("/conflict-actions", json={**body, "actor": "someone"}, headers=operator)
        assert impostor.status_code == 422
        assert errors_of(impostor)[0][0] == "$.actor"
        done = await client.post("/conflict-actions", json=body, headers=operator)
        assert done.json()["applied"] == 1
        detail = (await client.get(f"/conflicts/{first['conflict_id']}", headers=reader)).json()
        assert [(a["action"], a["actor"]) for a in detail["actions"]] == [("acknowledge", "ops")]


async def test_product_and_store_filters_match_exactly(client):
    """product_id and store_id narrow the list, alone and together with the other filters; bad values are 422."""

    async def stores(**params: str) -> list[str]:
        answer = await client.get("/conflicts", params=params)
        assert answer.status_code == 200, answer.text
        return [item["store_id"] for item in answer.json()["items"]]

    assert await stores(product_id="p1") == ["s1", "s0"]
    assert await stores(store_id="s0") == ["s0"]
    assert await stores(product_id="p1", store_id="s1", team="sponsored", status="open") == ["s1"]
    assert await stores(product_id="p") == []
    assert await stores(product_id="p1", store_id="s9") == []
    answer = await client.get("/conflicts", params={"product_id": "", "store_id": "x" * 129})
    assert answer.status_code == 422
    assert {path for path, _ in errors_of(answer)} == {"query.product_id", "query.store_id"}


def test_a_resolution_rate_with_nothing_due_is_none_even_with_early_resolutions():
    """Conflicts younger than the SLA are not due, resolved or not: with none older, the rate is None, not 100 %."""
    now = at(0) + 3 * DAY
    young = now - timedelta(hours=5)
    inputs = OkrInputs(
        counts={"events": 10, "conflicting": 2},
        detections=[(young, young), (young, young)],
        resolutions=[(young, young + timedelta(hours=1), "fixed"), (young, None, "open")],
        customer_facing_week=0,
        unresolved_now=1,
        escalated_now=0,
    )
    okr = compute_okr(inputs, now=now, period=7 * DAY, sla=DAY)
    assert (okr.resolution_rate_24h_percent, okr.resolutions_due) == (None, 0)
    assert okr.as_json()["targets"]["resolution_rate_24h_percent"]["met"] is None
    old = now - 2 * DAY
    later = replace(inputs, resolutions=[*inputs.resolutions, (old, old + DAY / 2, "fixed")])
    assert compute_okr(later, now=now, period=7 * DAY, sla=DAY).resolution_rate_24h_percent == 100.0


async def test_okr_says_null_while_no_conflict_is_due(client, store):
    """Before any conflict is 24 h old the API answers null and 0 due, though one is resolved; a day later it counts."""
    ids = await ids_by_store(client)
    await client.post(f"/conflicts/{ids['s0']}/actions", json={"action": "acknowledge"})
    await client.post(f"/conflicts/{ids['s0']}/actions", json={"action": "fix"})
    okr = (await client.get("/okr")).json()
    assert (okr["resolution_rate_24h_percent"], okr["resolutions_due"]) == (None, 0)
    assert okr["targets"]["resolution_rate_24h_percent"]["met"] is None
    assert "visibility_okr_resolution_rate_24h_ratio NaN" in (await client.get("/metrics")).text
    async with api(store, now=NOW + DAY) as later:
        figures = (await later.get("/okr")).json()
    assert figures["resolutions_due"] == figures["conflicts_opened"] >= 2
    assert figures["resolution_rate_24h_percent"] == round(100 / figures["resolutions_due"], 3)
