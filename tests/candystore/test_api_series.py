"""``GET /stats/series`` over a real store, on SQLite and PostgreSQL: per-minute counts, latency and lag."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from candystore.store.dead_letters import DeadLetter
from candystore.store.series import LATENCY_BOUNDS, quantile
from tests.candystore.api_helpers import OFFER_TYPE, client_for, errors_of, make_api
from tests.candystore.test_store_contract import envelope


@pytest.fixture
async def client(store, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_api(store, tmp_path)) as api:
        yield api


async def test_series_has_every_minute_with_counts_latency_and_lag(store, client):
    """Each minute of the window is a point, empty ones too; stored events and dead letters land in their minute."""
    now = datetime.now(UTC)
    earlier = (now - timedelta(minutes=30)).replace(second=10, microsecond=0)
    await store.store_batch(
        [
            envelope(OFFER_TYPE, at=earlier),
            envelope(OFFER_TYPE, at=earlier + timedelta(seconds=20)),
            envelope(OFFER_TYPE, at=now - timedelta(hours=3)),  # before the window
        ]
    )
    await store.keep_dead_letters([DeadLetter(body=b"x", routing_key="dlq.a", headers={"n": 1})])
    response = await client.get("/stats/series", params={"hours": 1})
    assert response.status_code == 200, response.text
    series = response.json()
    points = series["points"]
    assert len(points) in {60, 61}  # the first minute partial
    minutes = [datetime.fromisoformat(point["minute"]) for point in points]
    assert minutes == sorted(minutes)
    assert all(later - before == timedelta(minutes=1) for before, later in itertools.pairwise(minutes))
    by_minute = dict(zip(minutes, points, strict=True))
    busy = by_minute[earlier.replace(second=0)]
    assert busy["stored"] == 2
    # Stored now, published half an hour ago: the lag is at least that, and the percentiles are ordered.
    assert busy["lag"] >= 29 * 60
    assert 0 <= busy["latency_p50"] <= busy["latency_p95"] <= busy["latency_p99"] <= LATENCY_BOUNDS[-1]
    assert sum(point["stored"] for point in points) == 2
    assert sum(point["dead_lettered"] for point in points) == 1
    quiet = next(point for point in points if point["stored"] == 0)
    assert quiet["latency_p50"] is None
    assert quiet["lag"] is None


async def test_series_defaults_to_six_hours_and_refuses_other_windows(client):
    """Without hours the series spans six hours; hours outside 1 to 48, or an unknown parameter, is a 422."""
    default = await client.get("/stats/series")
    assert default.status_code == 200, default.text
    assert len(default.json()["points"]) in {360, 361}
    assert errors_of(await client.get("/stats/series", params={"hours": 49}))[0][0] == "query.hours"
    assert errors_of(await client.get("/stats/series", params={"hours": 0}))[0][0] == "query.hours"
    assert errors_of(await client.get("/stats/series", params={"minutes": 5}))[0][0] == "query.minutes"


def test_a_quantile_interpolates_inside_its_bucket():
    """Half of ten latencies at most 0.1 s, all at most 0.25 s: the median is 0.1 s, the 75th percentile halfway on."""
    cumulative = [0, 0, 0, 0, 5] + [10] * (len(LATENCY_BOUNDS) - 5)
    assert quantile(0.5, cumulative) == pytest.approx(0.1)
    assert quantile(0.75, cumulative) == pytest.approx(0.175)
    assert quantile(0.5, [0] * len(LATENCY_BOUNDS)) is None


@given(
    counts=st.lists(st.integers(min_value=0, max_value=50), min_size=len(LATENCY_BOUNDS), max_size=len(LATENCY_BOUNDS)),
    low=st.floats(min_value=0, max_value=1),
    high=st.floats(min_value=0, max_value=1),
)
def test_quantiles_grow_with_q_and_stay_within_the_bounds(counts, low, high):
    """For any histogram, a higher q never gives a lower latency, and every answer is within the bounds."""
    cumulative = [sum(counts[: n + 1]) for n in range(len(counts))]
    first, second = quantile(min(low, high), cumulative), quantile(max(low, high), cumulative)
    if cumulative[-1] == 0:
        assert first is None
        assert second is None
        return
    assert first is not None
    assert second is not None
    assert 0 <= first <= second <= LATENCY_BOUNDS[-1]
