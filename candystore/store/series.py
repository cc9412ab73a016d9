"""Statistics over time for ``GET /stats/series``: per-minute buckets of the last hours, from the store.

Each minute (by envelope timestamp, so the query runs on the timestamp index) carries how
many events were stored, how many dead letters arrived (by when Candystore kept them), the
end-to-end latency percentiles (envelope timestamp → committed) and the lag (the largest
latency of the minute: how far behind publishing the store was). The database is the one
every replica writes to, so the series covers them all.

Percentiles come from a latency histogram counted in SQL (fixed bounds, as a Prometheus
histogram, interpolated within a bucket the way ``histogram_quantile`` does), so SQLite and
PostgreSQL compute the same thing and no row leaves the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.schema import dead_letters, events

__all__ = ["LATENCY_BOUNDS", "MAX_HOURS", "MinutePoint", "Series", "compute_series", "quantile"]

MAX_HOURS = 48
"""The longest series one call returns: 2,880 minutes."""

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Upper bounds (seconds) of the latency histogram; a latency above the last counts in the last bucket."""

QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True, slots=True)
class MinutePoint:
    minute: datetime
    """The start of the minute (UTC)."""
    stored: int
    dead_lettered: int
    latency_p50: float | None
    """Seconds; None in a minute without events (so for the percentiles and the lag below)."""
    latency_p95: float | None
    latency_p99: float | None
    lag: float | None
    """The largest end-to-end latency of the minute, in seconds."""


@dataclass(frozen=True, slots=True)
class Series:
    since: datetime
    until: datetime
    points: list[MinutePoint]
    """Every minute from the one holding ``since`` up to ``until``, oldest first, empty minutes included."""


def quantile(q: float, cumulative: Sequence[int]) -> float | None:
    """The ``q`` quantile of a histogram given as cumulative counts per bound of :data:`LATENCY_BOUNDS`."""
    total = cumulative[-1] if cumulative else 0
    if total == 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0
    for bound, count in zip(LATENCY_BOUNDS, cumulative, strict=True):
        if count >= rank:
            inside = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside if inside else 1.0)
        lower_bound, lower_count = bound, count
    return LATENCY_BOUNDS[-1]


def _minute(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date_trunc("minute", func.timezone("UTC", column))  # in UTC, whatever the session's zone
    return func.strftime("%Y-%m-%d %H:%M:00", column)  # SQLite keeps UTC text


def _latency(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", events.c.stored_at - events.c.timestamp)
    return (func.julianday(events.c.stored_at) - func.julianday(events.c.timestamp)) * 86_400.0


def _as_minute(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def compute_series(connection: AsyncConnection, *, hours: int, now: datetime) -> Series:
    """Per-minute points of the ``hours`` (1 to :data:`MAX_HOURS`) before ``now``."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be between 1 and {MAX_HOURS}, got {hours}")
    if now.tzinfo is None:
        raise ValueError("now must carry a UTC offset")
    until = now.astimezone(UTC)
    since = until - timedelta(hours=hours)
    dialect = connection.dialect.name
    minute = _minute(dialect, events.c.timestamp).label("minute")
    latency = _latency(dialect)
    under = [func.sum(case((latency <= bound, 1), else_=0)).label(f"le_{n}") for n, bound in enumerate(LATENCY_BOUNDS)]
    rows = await connection.execute(
        select(minute, func.count().label("stored"), func.max(latency).label("lag"), *under)
        .where(events.c.timestamp >= since, events.c.timestamp < until)
        .group_by(minute)
    )
    stored: dict[datetime, tuple[int, float | None, list[int]]] = {}
    for row in rows.mappings():
        count = int(row["stored"])
        # Latencies above the last bound (and any the clocks made negative) still count in the total.
        cumulative = [int(row[f"le_{n}"] or 0) for n in range(len(LATENCY_BOUNDS) - 1)] + [count]
        lag = row["lag"]
        stored[_as_minute(row["minute"])] = (count, None if lag is None else max(0.0, float(lag)), cumulative)
    letter_minute = _minute(dialect, dead_letters.c.received_at).label("minute")
    letters = {
        _as_minute(row[0]): int(row[1])
        for row in await connection.execute(
            select(letter_minute, func.count())
            .where(dead_letters.c.received_at >= since, dead_letters.c.received_at < until)
            .group_by(letter_minute)
        )
    }
    points = []
    moment = since.replace(second=0, microsecond=0)
    while moment < until:
        count, lag, cumulative = stored.get(moment, (0, None, []))
        percentiles = {name: quantile(q, cumulative) for name, q in QUANTILES.items()}
        points.append(MinutePoint(moment, count, letters.get(moment, 0), **percentiles, lag=lag))
        moment += timedelta(minutes=1)
    return Series(since=since, until=until, points=points)
