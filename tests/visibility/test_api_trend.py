"""``GET /okr/trend`` on SQLite and PostgreSQL: the detector's counters summed per clock hour, with the rate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from visibility.domain.detection import DetectionCounts
from visibility.domain.state import StateChanges
from visibility.store.detections import DetectionWrite

from .retail import T0
from .test_api import NOW, api_for, seed

HOUR = timedelta(hours=1)


async def count(store: Any, at: datetime, *, offers: int, conflicting: int = 0) -> None:
    """Events the detector checked at ``at`` without opening a conflict."""
    await store.write_detections(
        DetectionWrite(
            findings=[],
            changes=StateChanges(),
            counts=DetectionCounts(events=offers, conflicting=conflicting),
            detected_at=at,
            first_escalation=lambda _rule: None,
        )
    )


@pytest.fixture
async def client(store):
    """The seeded conflicts (hour 19:00), and events checked in other hours, some outside the last day."""
    await seed(store)  # 6 events, 3 conflicting, 3 conflicts opened, all at 19:00:1x
    await count(store, T0 - 2 * HOUR + timedelta(minutes=30), offers=40)
    await count(store, T0 + timedelta(minutes=59, seconds=59), offers=2)
    await count(store, NOW, offers=4, conflicting=1)  # the hour running now
    await count(store, NOW - 23 * HOUR, offers=1)  # the first hour of the last day
    await count(store, NOW - 23 * HOUR - timedelta(seconds=1), offers=100)  # just before it
    await count(store, NOW + HOUR, offers=100)  # later than now
    transport = httpx.ASGITransport(app=api_for(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_every_hour_of_the_last_day_with_its_rate(client):
    """24 clock hours up to the running one, oldest first; empty hours are zero with no rate."""
    answer = await client.get("/okr/trend")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["hour"] for item in items] == [iso(NOW - (23 - index) * HOUR) for index in range(24)]
    counted = {item["hour"]: item for item in items if item["events_checked"]}
    assert counted == {
        iso(NOW - 23 * HOUR): {
            "hour": iso(NOW - 23 * HOUR),
            "events_checked": 1,
            "conflicting_events": 0,
            "conflicts_opened": 0,
            "conflict_rate": 0.0,
        },
        iso(T0 - 2 * HOUR): {
            "hour": iso(T0 - 2 * HOUR),
            "events_checked": 40,
            "conflicting_events": 0,
            "conflicts_opened": 0,
            "conflict_rate": 0.0,
        },
        iso(T0): {
            "hour": iso(T0),
            "events_checked": 8,
            "conflicting_events": 3,
            "conflicts_opened": 3,
            "conflict_rate": 37.5,
        },
        iso(NOW): {
            "hour": iso(NOW),
            "events_checked": 4,
            "conflicting_events": 1,
            "conflicts_opened": 0,
            "conflict_rate": 25.0,
        },
    }
    empty = next(item for item in items if item["hour"] == iso(T0 - HOUR))
    assert (empty["events_checked"], empty["conflicts_opened"], empty["conflict_rate"]) == (0, 0, None)


async def test_hours_narrows_the_trend_and_it_agrees_with_the_okr(client):
    """``hours=2`` gives the previous and the running hour; the conflicts opened add up to the OKR's."""
    items = (await client.get("/okr/trend", params={"hours": 2})).json()["items"]
    assert [(item["hour"], item["events_checked"]) for item in items] == [(iso(T0), 8), (iso(NOW), 4)]
    week = (await client.get("/okr/trend", params={"hours": 168})).json()["items"]
    assert len(week) == 168
    assert sum(item["events_checked"] for item in week) == 6 + 40 + 2 + 4 + 1 + 100
    okr = (await client.get("/okr", params={"hours": 168})).json()
    assert sum(item["conflicts_opened"] for item in week) == okr["conflicts_opened"] == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"hours": "0"}, "Input should be greater than or equal to 1"),
        ({"hours": "169"}, "Input should be less than or equal to 168"),
        ({"hours": "a day"}, "Input should be a valid integer, unable to parse string as an integer"),
        ({"hour": "24"}, "unknown query parameter; this route takes hours"),
    ],
)
async def test_bad_hours_are_422_naming_the_parameter(client, query, message):
    """Hours outside 1..168, not a number, or a misspelt name are refused with the parameter's path."""
    answer = await client.get("/okr/trend", params=query)
    assert answer.status_code == 422
    assert answer.json() == {"errors": [{"path": f"query.{next(iter(query))}", "message": message}]}
