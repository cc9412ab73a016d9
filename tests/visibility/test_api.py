"""The HTTP API on SQLite and PostgreSQL: listing, one conflict, actions and their refusals, OKR, health."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gumdrop.access_control import Access
from visibility.api import create_api
from visibility.domain.detection import DetectionEngine
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.rules import load_rules
from visibility.settings import VisibilitySettings
from visibility.store.detections import DetectionWrite
from visibility.store.outbox import OutboxEvent

from .retail import at, check, offer, snapshot

RULES = load_rules()


class Sent:
    def __init__(self) -> None:
        self.events: list[OutboxEvent] = []

    async def __call__(self, event: OutboxEvent) -> None:
        self.events.append(event)


async def seed(store: Any) -> None:
    """Two inventory conflicts (s0 magic-apron, s1 sponsored) and one price mismatch between teams."""
    engine = DetectionEngine(RULES)
    findings = []
    for index, team in enumerate(["magic-apron", "sponsored"]):
        check(engine, snapshot(store=f"s{index}", items={"p1": (0, 10.0)}))
        findings += check(engine, offer(team, store=f"s{index}", availability="in_stock", seconds=index))
    check(engine, offer("magic-apron", product="p2", store="s2", price=10.0))
    findings += check(engine, offer("recs-search", product="p2", store="s2", price=11.0))
    for index, finding in enumerate(findings):
        await store.write_detections(
            DetectionWrite(
                findings=[finding],
                changes=engine.state.take_changes(),
                counts=engine.take_counts(),
                detected_at=at(10 + index),
                first_escalation=lambda rule: RULES.rule(rule).escalation[0].after,
            )
        )


NOW = at(3600)
"""The API's clock: the end of the hour the seeded conflicts were detected in."""


def api_for(store: Any, *, access: Access | None = None) -> FastAPI:
    lifecycle = Lifecycle(store, rules=RULES, publisher=OutboxPublisher(store, Sent()))
    return create_api(
        store,
        settings=VisibilitySettings(),
        lifecycle=lifecycle,
        metrics=VisibilityMetrics(CollectorRegistry()),
        access=access or Access.open(),
        rules=lambda: RULES,
        broker_connected=lambda: True,
        now=lambda: NOW,
    )


@pytest.fixture
async def client(store):
    await seed(store)
    transport = httpx.ASGITransport(app=api_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return [(error["path"], error["message"]) for error in body["errors"]]


async def test_list_has_the_fields_of_the_contract_and_filters(client):
    """Items carry the design.md fields plus severity, occurrences and customer impact; filters narrow them."""
    answer = await client.get("/conflicts")
    assert answer.status_code == 200
    body = answer.json()
    assert body["next_cursor"] is None
    assert [item["store_id"] for item in body["items"]] == ["s2", "s1", "s0"]
    item = body["items"][2]
    for field in ("conflict_id", "rule", "status", "product_id", "store_id", "teams", "source_event_ids"):
        assert field in item
    assert item["occurred_at"] == "2026-11-02T19:00:00Z"
    assert item["detected_at"] == "2026-11-02T19:00:10Z"
    assert item["details"]["summary"].startswith("magic-apron showed availability in stock")
    assert (item["severity"], item["occurrence_count"], item["customer_facing"]) == ("high", 1, True)
    assert all(listed["customer_facing"] for listed in body["items"])  # previews never make a conflict
    team = await client.get("/conflicts", params={"team": "recs-search"})
    assert [i["teams"] for i in team.json()["items"]] == [["magic-apron", "recs-search"]]
    rule = await client.get("/conflicts", params={"rule": "inventory_contradiction", "limit": 1})
    assert len(rule.json()["items"]) == 1
    rest = await client.get(
        "/conflicts", params={"rule": "inventory_contradiction", "cursor": rule.json()["next_cursor"]}
    )
    assert [i["store_id"] for i in rest.json()["items"]] == ["s0"]
    since = await client.get("/conflicts", params={"since": "2026-11-02T19:00:11Z"})
    assert len(since.json()["items"]) == 2
    assert (await client.get("/conflicts", params={"status": "resolved"})).json()["items"] == []


async def test_bad_queries_are_422_naming_the_parameter(client):
    """Unknown parameters, bad values and cursors are refused with their path."""
    answer = await client.get("/conflicts", params={"status": "closed", "limit": 0, "since": "yesterday", "x": "1"})
    assert answer.status_code == 422
    paths = {path for path, _ in errors_of(answer)}
    assert paths == {"query.x"}  # unknown names are refused first
    answer = await client.get("/conflicts", params={"status": "closed", "limit": 0, "since": "2026-11-02T19:00:00"})
    assert {path for path, _ in errors_of(answer)} == {"query.status", "query.limit", "query.since"}
    answer = await client.get("/conflicts", params={"cursor": "bogus"})
    assert errors_of(answer) == [
        ("query.cursor", "invalid cursor 'bogus': pass back the next_cursor of a previous page unchanged")
    ]


def forged_cursor(moment: str, conflict_id: str = "0" * 32) -> str:
    """A cursor in the store's format, but not one it issued."""
    return base64.urlsafe_b64encode(json.dumps([moment, conflict_id]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"])
async def test_a_time_the_store_cannot_hold_is_422(client, name, moment):
    """since and until outside the years 1970 to 9999 in UTC are a 422 naming the parameter, never a 500."""
    answer = await client.get("/conflicts", params={name: moment})
    assert answer.status_code == 422
    ((path, message),) = errors_of(answer)
    assert path == f"query.{name}"
    assert repr(moment) in message


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"\x00\xff not json").decode(),
        base64.urlsafe_b64encode(b'{"at": 1}').decode(),
        forged_cursor("0001-01-01T00:00:00+14:00"),
        forged_cursor("9999-12-31T23:59:59-14:00"),
        forged_cursor("2026-11-02T19:00:10Z", "not a uuid"),
        "Ω",
    ],
)
async def test_a_cursor_the_store_did_not_issue_is_422(client, cursor):
    """Base64 of garbage and forged cursors (an out-of-range time, a bad id) are a 422 on query.cursor."""
    answer = await client.get("/conflicts", params={"cursor": cursor})
    assert answer.status_code == 422
    ((path, message),) = errors_of(answer)
    assert path == "query.cursor"
    assert message.endswith("pass back the next_cursor of a previous page unchanged")


async def test_one_conflict_and_its_actions(client):
    """A conflict is acknowledged then accepted with a reason; the actions are listed; refusals say why."""
    [item] = (await client.get("/conflicts", params={"team": "sponsored"})).json()["items"]
    cid = item["conflict_id"]
    url = f"/conflicts/{cid}/actions"
    refused = await client.post(url, json={"action": "accept", "actor": "sam", "note": "bundle price"})
    assert refused.status_code == 409
    assert errors_of(refused) == [(None, f"conflict {cid} is open: acknowledge it before you accept it")]
    acked = await client.post(url, json={"action": "acknowledge", "actor": "sam"})
    assert acked.status_code == 200
    assert acked.json()["status"] == "acknowledged"
    no_reason = await client.post(url, json={"action": "accept", "actor": "sam"})
    assert no_reason.status_code == 422
    assert errors_of(no_reason)[0][0] == "$.note"
    accepted = await client.post(url, json={"action": "accept", "actor": "sam", "note": "bundle price"})
    assert accepted.json()["status"] == "accepted"
    again = await client.post(url, json={"action": "fix", "actor": "sam"})
    assert again.status_code == 409
    assert "already resolved (accepted since" in errors_of(again)[0][1]
    detail = (await client.get(f"/conflicts/{cid}")).json()
    assert [(a["action"], a["actor"], a["note"]) for a in detail["actions"]] == [
        ("acknowledge", "sam", None),
        ("accept", "sam", "bundle price"),
    ]
    assert detail["resolved_at"] is not None


async def test_bad_ids_bodies_and_unknown_conflicts(client):
    """A non-UUID is 422 at the path, an unknown id 404, a bad body 422 at its JSON path."""
    bad = await client.get("/conflicts/nope")
    assert bad.status_code == 422
    assert errors_of(bad)[0][0] == "path.conflict_id"
    missing = uuid.uuid4()
    assert errors_of(await client.get(f"/conflicts/{missing}")) == [("path.conflict_id", f"no conflict {missing}")]
    posted = await client.post(f"/conflicts/{missing}/actions", json={"action": "acknowledge", "actor": "a"})
    assert posted.status_code == 404
    body = await client.post(f"/conflicts/{missing}/actions", json={"action": "close", "actor": "", "extra": 1})
    assert body.status_code == 422
    assert {path for path, _ in errors_of(body)} == {"$.action", "$.actor", "$.extra"}
    assert (await client.get("/nowhere")).status_code == 404


async def test_okr_health_and_metrics(client):
    """The OKR figures come from the stored conflicts and counters; health and metrics answer."""
    okr = (await client.get("/okr")).json()
    assert okr["conflicts_opened"] == 3
    assert okr["events"] == 6
    assert okr["conflict_rate_percent"] == 50.0
    assert okr["customer_impact_incidents_7d"] == 3  # every conflict: previews never make one
    assert okr["period"] == {"since": "2026-10-26T20:00:00Z", "until": "2026-11-02T20:00:00Z"}
    assert okr["targets"]["conflict_rate_percent"] == {"target": "< 2", "met": False}
    assert okr["time_to_detect_p95_seconds"] >= okr["time_to_detect_mean_seconds"] > 0
    assert errors_of(await client.get("/okr", params={"hours": -1}))[0][0] == "query.hours"
    assert (await client.get("/health/live")).json() == {"status": "live"}
    assert (await client.get("/health/ready")).json() == {"status": "ready", "database": "ok", "broker": "ok"}
    metrics = (await client.get("/metrics")).text
    assert "visibility_okr_conflict_rate_ratio 0.5" in metrics
    assert "visibility_detect_latency_seconds_bucket" in metrics


def same_json(served: str, expected: Any) -> bool:
    """Equal values with the keys in the same order: what the routes served before they had response models."""
    return json.dumps(json.loads(served)) == json.dumps(expected)


async def test_answers_are_the_stored_records_json_unchanged(client, store):
    """Listing, one conflict, an action and the OKR answer exactly the JSON the records give, key order included."""
    page = await store.conflicts()
    listed = await client.get("/conflicts")
    assert same_json(listed.text, {"items": [item.as_json() for item in page.items], "next_cursor": None})
    first = page.items[0]
    one = await client.get(f"/conflicts/{first.conflict_id}")
    assert same_json(one.text, first.as_json(with_actions=True))
    acted = await client.post(f"/conflicts/{first.conflict_id}/actions", json={"action": "acknowledge", "actor": "a"})
    after = await store.conflict(first.conflict_id)
    assert after is not None
    assert same_json(acted.text, after.as_json(with_actions=True))
    assert json.loads(acted.text)["actions"][0]["at"].endswith("Z")
    okr = await store.okr(now=NOW, period=timedelta(days=7), sla=timedelta(days=1))
    assert same_json((await client.get("/okr")).text, okr.as_json())
    assert same_json((await client.get("/health/ready")).text, {"status": "ready", "database": "ok", "broker": "ok"})


async def test_openapi_documents_every_answer(client):
    """Each JSON route's 200 names its model and every error answer the one error shape."""
    document = (await client.get("/openapi.json")).json()
    models = {
        ("/conflicts", "get"): "ConflictPageModel",
        ("/conflicts/{conflict_id}", "get"): "ConflictDetailModel",
        ("/conflicts/{conflict_id}/actions", "post"): "ConflictDetailModel",
        ("/okr", "get"): "OkrModel",
        ("/okr/trend", "get"): "TrendModel",
        ("/health/live", "get"): "LiveModel",
        ("/health/ready", "get"): "ReadyModel",
    }
    for (path, method), model in models.items():
        answers = document["paths"][path][method]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
        for status, answer in answers.items():
            if status[0] in "45":
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    schemas = document["components"]["schemas"]
    assert schemas["ConflictModel"]["properties"]["status"] == {"$ref": "#/components/schemas/Status"}
    assert set(schemas["Status"]["enum"]) == {"open", "acknowledged", "fixed", "accepted", "disputed"}
    assert set(schemas["ConflictDetailModel"]["required"]) >= {"conflict_id", "details", "escalation", "actions"}
