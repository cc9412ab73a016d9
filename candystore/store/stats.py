"""Statistics for ``GET /stats``: counts by type, source and hour in a window, recent rates, dead letters.

Every count over events is bounded by the envelope timestamp, so it runs on the
timestamp index and costs what the window holds, not what the table holds. Rates are
events per second whose timestamp falls in the last minute, five minutes and hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.dead_letters import DeadLetterState, count_dead_letters
from candystore.store.queries import EventFilter
from candystore.store.queries import _conditions as event_conditions
from candystore.store.schema import events

__all__ = ["MAX_WINDOW", "HourCount", "Rates", "SourceCount", "Stats", "TypeCount", "compute_stats", "count_events"]

MAX_WINDOW = timedelta(days=31)
"""The longest window one call counts: hourly buckets stay a few hundred."""

RATE_PERIODS = {
    "last_minute": timedelta(minutes=1),
    "last_5_minutes": timedelta(minutes=5),
    "last_hour": timedelta(hours=1),
}


@dataclass(frozen=True, slots=True)
class TypeCount:
    event_type: str
    count: int


@dataclass(frozen=True, slots=True)
class SourceCount:
    source_app: str | None
    """``source.app``; None for events whose source names no app."""
    count: int


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: datetime
    """The start of the hour (UTC)."""
    count: int


@dataclass(frozen=True, slots=True)
class Rates:
    """Events per second over the periods ending now."""

    last_minute: float
    last_5_minutes: float
    last_hour: float


@dataclass(frozen=True, slots=True)
class Stats:
    """What the store holds in ``[since, until)``, the rates at ``now``, and dead letters by state."""

    since: datetime
    until: datetime
    total: int
    by_type: list[TypeCount]
    by_source: list[SourceCount]
    by_hour: list[HourCount]
    """Every hour of the window, oldest first, zero included."""
    rates: Rates
    dead_letters: dict[DeadLetterState, int]


def _hour_bucket(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # Truncated in UTC, whatever the session's time zone.
        return func.date_trunc("hour", func.timezone("UTC", events.c.timestamp))
    return func.strftime("%Y-%m-%d %H:00:00", events.c.timestamp)  # SQLite keeps UTC text


def _as_hour(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _hours(since: datetime, until: datetime) -> list[datetime]:
    hour = since.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < until:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


async def _rates(connection: AsyncConnection, now: datetime) -> Rates:
    oldest = now - max(RATE_PERIODS.values())
    columns = [
        func.coalesce(func.sum(case((events.c.timestamp >= now - period, 1), else_=0)), 0).label(name)
        for name, period in RATE_PERIODS.items()
    ]
    statement = select(*columns).where(events.c.timestamp >= oldest, events.c.timestamp < now)
    row = (await connection.execute(statement)).mappings().one()
    per_second = {name: int(row[name]) / period.total_seconds() for name, period in RATE_PERIODS.items()}
    return Rates(**per_second)


async def compute_stats(connection: AsyncConnection, *, since: datetime, until: datetime, now: datetime) -> Stats:
    """The statistics of the window ``[since, until)`` (at most :data:`MAX_WINDOW`) and the rates at ``now``."""
    if since.tzinfo is None or until.tzinfo is None or now.tzinfo is None:
        raise ValueError("since, until and now must carry a UTC offset")
    since, until, now = since.astimezone(UTC), until.astimezone(UTC), now.astimezone(UTC)
    if since > until:
        raise ValueError(f"since ({since.isoformat()}) must not be after until ({until.isoformat()})")
    if until - since > MAX_WINDOW:
        raise ValueError(f"the window from since to until spans more than {MAX_WINDOW.days} days")
    window = (events.c.timestamp >= since, events.c.timestamp < until)
    count = func.count().label("count")
    by_type_rows = await connection.execute(
        select(events.c.event_type, count).where(*window).group_by(events.c.event_type)
    )
    by_type = sorted((TypeCount(row[0], int(row[1])) for row in by_type_rows), key=lambda c: (-c.count, c.event_type))
    by_source_rows = await connection.execute(
        select(events.c.source_app, count).where(*window).group_by(events.c.source_app)
    )
    by_source = sorted(
        (SourceCount(row[0], int(row[1])) for row in by_source_rows),
        key=lambda c: (-c.count, c.source_app or ""),
    )
    bucket = _hour_bucket(connection.dialect.name).label("hour")
    hourly = {
        _as_hour(row[0]): int(row[1])
        for row in await connection.execute(select(bucket, count).where(*window).group_by(bucket))
    }
    return Stats(
        since=since,
        until=until,
        total=sum(item.count for item in by_type),
        by_type=by_type,
        by_source=by_source,
        by_hour=[HourCount(hour, hourly.get(hour, 0)) for hour in _hours(since, until)],
        rates=await _rates(connection, now),
        dead_letters=await count_dead_letters(connection),
    )


async def count_events(connection: AsyncConnection, filters: EventFilter) -> int:
    """How many stored events match ``filters`` (what paging through ``GET /events`` would return)."""
    statement = select(func.count()).select_from(events).where(*event_conditions(connection.dialect.name, filters))
    return int((await connection.execute(statement)).scalar_one())
