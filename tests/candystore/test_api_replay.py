"""``POST /replay`` and ``GET /replay/{id}`` over a real store (SQLite and PostgreSQL) and an embedded broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec, Publisher, build_envelope
from bloodbank.topology import Headers
from candystore.api import create_api
from candystore.live import LiveHub
from candystore.replay import EVENT_REPLAY_MARK
from candystore.settings import CandystoreSettings
from gumdrop.principals import Scope
from holyfields import default_catalog, default_validator
from tests.bloodbank.waiting import eventually
from tests.candystore.api_helpers import OFFER, OFFER_TYPE, SOURCE, client_for, errors_of, make_api
from tests.candystore.bus_helpers import received, watched_bus
from tests.test_access import KEYS, bearer, keyed_access

WATCH = ConsumerSpec("replay.api.watch", ("#",))
BASE = datetime(2026, 3, 1, tzinfo=UTC)
N8N_TYPE = "n8n.workflow.started.v1"
N8N = default_catalog().get(N8N_TYPE).examples[0]  # type: ignore[union-attr]


@pytest.fixture
async def transport(tmp_path):
    async with watched_bus(tmp_path / "bus.sqlite3", WATCH) as embedded:
        yield embedded


@pytest.fixture
async def client(store, transport, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)
    async with client_for(make_api(store, tmp_path, publisher=publisher)) as api:
        yield api


async def stored(store) -> list[dict[str, Any]]:
    """Five offers inside the window, one after it and an n8n event inside it; the five offers returned."""
    inside = [build_envelope(OFFER_TYPE, OFFER, source=SOURCE, timestamp=BASE + timedelta(minutes=i)) for i in range(5)]
    late = build_envelope(OFFER_TYPE, OFFER, source=SOURCE, timestamp=BASE + timedelta(days=2))
    other = build_envelope(N8N_TYPE, N8N, source=SOURCE, timestamp=BASE)
    await store.store_batch([*inside, late, other])
    return inside


WINDOW = {"event_type": "retail.#", "since": BASE.isoformat(), "until": (BASE + timedelta(days=1)).isoformat()}


async def test_a_dry_run_counts_the_matching_events_and_publishes_nothing(store, client, transport) -> None:
    """dry_run answers 200 with the count of the events the filters of GET /events choose."""
    await stored(store)
    response = await client.post("/replay", params=WINDOW, json={"dry_run": True})
    assert response.status_code == 200, response.text
    assert response.json() == {"dry_run": True, "matched": 5}
    everything = await client.post("/replay", json={"dry_run": True})
    assert everything.json()["matched"] == 7
    assert (await transport.queue_state(WATCH.name)).ready == 0


async def test_a_replay_publishes_exactly_the_matched_events_marked_and_reports_progress(
    store, client, transport
) -> None:
    """A replay answers 202 with its id; its progress ends done, and the matched events alone were republished."""
    inside = await stored(store)
    response = await client.post("/replay", params=WINDOW, json={"actor": "ops"})
    assert response.status_code == 202, response.text
    started = response.json()
    assert (started["matched"], started["actor"]) == (5, "ops")
    assert started["state"] in {"running", "done"}
    progress_url = f"/replay/{started['replay_id']}"

    async def finished() -> bool:
        return bool((await client.get(progress_url)).json()["done"])

    await eventually(finished)
    progress = (await client.get(progress_url)).json()
    assert {key: progress[key] for key in ("state", "matched", "published", "invalid", "failed", "error")} == {
        "state": "done",
        "matched": 5,
        "published": 5,
        "invalid": 0,
        "failed": 0,
        "error": None,
    }
    assert progress["finished_at"] is not None
    deliveries = await received(transport, WATCH, expect=5)
    assert [msgspec.json.decode(d.body)["event_id"] for d in deliveries] == [e["event_id"] for e in inside]
    assert {d.headers[Headers.REPLAY] for d in deliveries} == {EVENT_REPLAY_MARK}


async def test_replay_input_errors_name_the_field(client) -> None:
    """A bad filter, an unknown parameter or a bad body field is a 422 naming it; nothing starts."""
    bad_type = await client.post("/replay", params={"event_type": "retail..x"}, json={})
    assert bad_type.status_code == 422
    assert [path for path, _ in errors_of(bad_type)] == ["query.event_type"]
    unknown = await client.post("/replay", params={"evnt_type": "retail.#"}, json={})
    assert unknown.status_code == 422
    assert [path for path, _ in errors_of(unknown)] == ["query.evnt_type"]
    bad_since = await client.post("/replay", params={"since": "yesterday"}, json={"dry_run": True})
    assert [path for path, _ in errors_of(bad_since)] == ["query.since"]
    bad_body = await client.post("/replay", json={"dry_run": "maybe", "speed": 3})
    assert bad_body.status_code == 422
    assert sorted(str(path) for path, _ in errors_of(bad_body)) == ["$.dry_run", "$.speed"]


async def test_an_unknown_replay_is_a_404_and_a_malformed_id_a_422(client) -> None:
    """The progress of a replay this process does not know is a 404 naming the id; a non-UUID a 422."""
    missing = await client.get("/replay/0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b")
    assert missing.status_code == 404
    assert [path for path, _ in errors_of(missing)] == ["path.replay_id"]
    malformed = await client.get("/replay/not-an-id")
    assert malformed.status_code == 422
    assert [path for path, _ in errors_of(malformed)] == ["path.replay_id"]


@pytest.mark.parametrize("database", ["sqlite_database"], indirect=True)
async def test_replay_needs_the_operate_scope_when_keys_are_on(store, transport, tmp_path) -> None:
    """With keys, a read key may count nothing and start nothing (403); an operate key may, as its client."""
    publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)
    api = create_api(
        store,
        settings=CandystoreSettings(data_dir=tmp_path),
        hub=LiveHub(),
        registry=CollectorRegistry(),
        access=keyed_access(),
        publisher=publisher,
    )
    await stored(store)
    async with client_for(api) as keyed:
        assert (await keyed.post("/replay", json={"dry_run": True})).status_code == 401
        refused = await keyed.post("/replay", json={"dry_run": True}, headers=bearer(Scope.READ))
        assert refused.status_code == 403
        counted = await keyed.post("/replay", json={"dry_run": True}, headers=bearer(Scope.OPERATE))
        assert counted.json() == {"dry_run": True, "matched": 7}
        named = await keyed.post("/replay", json={"actor": "someone"}, headers=bearer(Scope.OPERATE))
        assert [path for path, _ in errors_of(named)] == ["$.actor"]
        started = await keyed.post("/replay", params=WINDOW, json={}, headers=bearer(Scope.OPERATE))
        assert started.status_code == 202
        assert started.json()["actor"] == Scope.OPERATE.value
        progress = await keyed.get(f"/replay/{started.json()['replay_id']}", headers={"X-API-Key": KEYS[Scope.READ]})
        assert progress.status_code == 200
    await received(transport, WATCH, expect=5)
