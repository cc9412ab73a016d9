"""`visibility patterns` over a small history stored in a real Candystore and read through its API.

The analysis is also held to a committed answer over a committed history (tests/visibility/data),
the same pair Candybar's port of it (candybar/web/src/lib/patterns.ts) is tested against.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp
from typer.testing import CliRunner

from bloodbank import build_envelope, uuid7
from candystore.api import create_api
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from candystore.store.migrate import upgrade
from gumdrop.access_control import Access
from tests.visibility.threaded_server import serving
from visibility.cli import app
from visibility.tools.patterns import HistoryEvent, analyse, fetch_history

DAY = datetime(2026, 11, 30, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
SNAPSHOT, OFFER = "retail.inventory.snapshot.v1", "retail.offer.surfaced.v1"
DETECTED, ESCALATED, RESOLVED = (f"visibility.conflict.{action}.v1" for action in ("detected", "escalated", "resolved"))


def moment(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def event(event_type: str, payload: dict[str, Any], at: datetime, parents: list[str], app: str) -> dict[str, Any]:
    source = {"host": "test", "type": "system", "app": app}
    return build_envelope(event_type, payload, source=source, correlation_ids=parents, event_id=uuid7(), timestamp=at)


def offer(  # noqa: PLR0917 - the fields of one offer
    team: str, product: str, store: str, price: float, at: datetime, parents: list[str]
) -> dict[str, Any]:
    payload = {
        "team": team,
        "product_id": product,
        "store_id": store,
        "price": price,
        "currency": "USD",
        "availability": "in_stock",
        "surfaced_at": at.isoformat(),
    }
    return event(OFFER, payload, at, parents, team)


def detected(  # noqa: PLR0917 - the fields of one conflict, in the order of the schema
    conflict: str,
    rule: str,
    product: str,
    store: str,
    teams: list[str],
    at: datetime,
    parents: list[str],
    count: int = 1,
) -> dict[str, Any]:
    observation = {
        "team": teams[0], "source": "offer", "price": 1.0, "availability": "in_stock", "quantity": None,
        "on_hand": None, "observed_at": at.isoformat(), "event_id": parents[0],
    }  # fmt: skip
    payload = {
        "conflict_id": conflict,
        "rule": rule,
        "rule_version": 1,
        "severity": "medium",
        "product_id": product,
        "store_id": store,
        "teams": teams,
        "source_event_ids": parents,
        "occurred_at": at.isoformat(),
        "detected_at": (at + timedelta(milliseconds=300)).isoformat(),
        "details": {"summary": "prices apart", "observations": [observation]},
        "occurrence_count": count,
        "customer_facing": True,
    }
    return event(DETECTED, payload, at + timedelta(milliseconds=300), parents, "visibility")


def history() -> list[dict[str, Any]]:
    """Snapshot → two offers → a price conflict (seen 3 times), resolved, reopened; a contradiction escalated."""
    c1, c2, c3 = uuid7(), uuid7(), uuid7()
    snap = event(
        SNAPSHOT,
        {
            "store_id": "s1",
            "as_of": moment(9).isoformat(),
            "items": [{"product_id": "p1", "on_hand": 4, "price": 10.0}],
        },
        moment(9),
        [],
        "inventory",
    )
    o1 = offer("magic-apron", "p1", "s1", 10.0, moment(9, 1), [snap["event_id"]])
    o2 = offer("sponsored", "p1", "s1", 12.0, moment(9, 2), [snap["event_id"]])
    o3 = offer("recs-search", "p2", "s2", 5.0, moment(14), [])
    pair = ["magic-apron", "sponsored"]
    d1 = detected(c1, "price_mismatch", "p1", "s1", pair, moment(9, 2), [o2["event_id"], o1["event_id"]])
    d1_again = detected(c1, "price_mismatch", "p1", "s1", pair, moment(9, 30), [o2["event_id"], o1["event_id"]], 3)
    resolved = event(
        RESOLVED,
        {
            "conflict_id": c1, "rule": "price_mismatch", "resolution": "fixed", "actor": "mika", "note": "fixed",
            "opened_at": moment(9, 2).isoformat(), "resolved_at": moment(10, 10).isoformat(),
            "time_to_resolve_seconds": 4080.0,
        },
        moment(10, 10),
        [d1["event_id"]],
        "visibility",
    )  # fmt: skip
    d2 = detected(c2, "price_mismatch", "p1", "s1", pair, moment(10, 30), [o1["event_id"], o2["event_id"]])
    d3 = detected(c3, "inventory_contradiction", "p2", "s2", ["recs-search"], moment(14), [o3["event_id"], uuid7()])
    escalated = event(
        ESCALATED,
        {
            "conflict_id": c3, "rule": "inventory_contradiction", "level": "decision_authority",
            "escalated_to": "delivery", "reason": "unresolved 24 h", "opened_at": moment(14).isoformat(),
            "escalated_at": moment(14, 30).isoformat(),
        },
        moment(14, 30),
        [d3["event_id"]],
        "visibility",
    )  # fmt: skip
    return [snap, o1, o2, o3, d1, d1_again, resolved, d2, d3, escalated]


@pytest.fixture(scope="module")
def candystore(tmp_path_factory) -> Iterator[str]:
    """The Candystore API on a local port over a SQLite store holding the history."""
    folder = tmp_path_factory.mktemp("candystore")
    holder: dict[str, EventStore] = {}

    async def build() -> ASGIApp:
        store = holder["store"] = EventStore.open(f"sqlite+aiosqlite:///{folder / 'events.sqlite3'}")
        await upgrade(store.engine)
        results = await store.store_batch(history())
        assert all(result.outcome == "stored" for result in results), results
        settings = CandystoreSettings(data_dir=folder)
        return create_api(store, settings=settings, hub=LiveHub(), registry=CollectorRegistry(), access=Access.open())

    async def close() -> None:
        await holder["store"].close()

    with serving(build, cleanup=close) as url:
        yield url


def test_history_is_read_through_the_api_and_analysed(candystore):
    """Hot spots, recurring conflicts and the directly-follows graph come out of the stored history."""
    found = analyse(fetch_history(candystore))
    assert found.events == 10
    assert (found.conflicts, found.occurrences) == (3, 5)
    assert found.team_pairs == {"magic-apron + sponsored": 2, "recs-search vs inventory": 1}
    assert found.products == {"p1": 2, "p2": 1}
    assert found.stores == {"s1": 2, "s2": 1}
    assert found.hours == {9: 1, 10: 1, 14: 1}
    assert found.rules == {"price_mismatch": 2, "inventory_contradiction": 1}
    [recurring] = found.recurring
    assert (recurring.rule, recurring.product_id, recurring.store_id) == ("price_mismatch", "p1", "s1")
    assert (recurring.teams, recurring.conflicts, recurring.occurrences) == (("magic-apron", "sponsored"), 2, 4)
    assert found.flows == {
        (SNAPSHOT, OFFER): 2,
        (OFFER, DETECTED): 7,
        (DETECTED, RESOLVED): 1,
        (DETECTED, ESCALATED): 1,
    }
    assert found.starts == {SNAPSHOT: 1, OFFER: 1}
    assert found.unresolved_parents == 1
    document = found.to_json()
    assert document["hot_spots"]["team_pairs"][0] == {"teams": "magic-apron + sponsored", "conflicts": 2}
    assert len(document["hot_spots"]["hours"]) == 24
    assert {"from": OFFER, "to": DETECTED, "count": 7} in document["directly_follows"]["edges"]


def test_since_narrows_the_history(candystore):
    """--since reads only events at or after that time; parents before it count as unresolved."""
    found = analyse(fetch_history(candystore, since=moment(10)))
    assert found.events == 5
    assert found.conflicts == 2
    assert found.unresolved_parents == 4


def test_the_analysis_gives_the_committed_answer():
    """Over the committed history (ties, odd counts, offsets, missing fields), `analyse` gives the committed answer.

    Candybar's Patterns page runs its port over the same files (candybar/web/test/patterns.test.ts).
    """
    history = json.loads((DATA / "patterns-history.json").read_text(encoding="utf-8"))
    expected = json.loads((DATA / "patterns-expected.json").read_text(encoding="utf-8"))
    assert analyse(HistoryEvent.from_envelope(envelope) for envelope in history).to_json() == expected


def test_an_empty_history_is_an_empty_analysis():
    """With nothing stored, the analysis is empty and still lists every hour."""
    found = analyse([]).to_json()
    assert (found["events"], found["conflicts"], found["recurring"]) == (0, 0, [])
    assert len(found["hot_spots"]["hours"]) == 24


# --- the command --------------------------------------------------------------------------------


def test_patterns_prints_json_or_tables(candystore):
    """`visibility patterns --json` prints one JSON object; without it, tables."""
    result = CliRunner().invoke(app, ["patterns", "--api", candystore, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output.strip().splitlines()[-1])
    assert document["conflicts"] == 3
    assert document["recurring"][0]["conflicts"] == 2
    tables = CliRunner().invoke(app, ["patterns", "--api", candystore])
    assert tables.exit_code == 0, tables.output
    for text in ("Hot spots", "magic-apron + sponsored  2", "Recurring conflicts", "Directly-follows graph"):
        assert text in tables.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--api", "http://127.0.0.1:9"], "cannot read the history"),
        (["--since", "yesterday"], "--since 'yesterday' is not an ISO 8601 time"),
        (["--since", "2026-11-30T10:00:00"], "needs a UTC offset"),
    ],
)
def test_patterns_exits_1_on_bad_input(arguments, message):
    """An unreachable API or a bad time ends with exit code 1 and the reason."""
    result = CliRunner().invoke(app, ["patterns", *arguments])
    assert result.exit_code == 1
    assert message in result.output


def test_a_path_that_is_not_candystore_is_reported(candystore):
    """An address that answers but is not the Candystore API is refused, not analysed."""
    result = CliRunner().invoke(app, ["patterns", "--api", candystore + "/events"])
    assert result.exit_code == 1
    assert "answered 4" in result.output
