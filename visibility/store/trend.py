"""The detector's counters per clock hour: events checked, events in conflict, conflicts opened.

The per-minute counters (:mod:`visibility.store.counters`) are summed by the database, hour
by hour, so a week of minutes comes back as one row per hour and counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.records import as_utc
from visibility.store.schema import counters

__all__ = ["HourCounts", "hour_of", "hourly_counts"]

_HOUR = timedelta(hours=1)
_SECONDS_PER_HOUR = 3600


@dataclass(frozen=True, slots=True)
class HourCounts:
    """What the detector counted in one clock hour (UTC)."""

    hour: datetime
    """The start of the hour."""
    events: int = 0
    conflicting: int = 0
    opened: int = 0


def hour_of(moment: datetime) -> datetime:
    """The start of the clock hour ``moment`` falls in, in UTC."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


def _hours_since_epoch(connection: AsyncConnection) -> ColumnElement[int]:
    """The hour (counted from the Unix epoch) of each minute's bucket, computed by the database."""
    if connection.dialect.name == "postgresql":
        seconds = cast(func.extract("epoch", counters.c.bucket), BigInteger)
    else:  # SQLite keeps the bucket as UTC text; strftime reads it back as seconds since the epoch
        seconds = cast(func.strftime("%s", counters.c.bucket), BigInteger)
    return seconds // _SECONDS_PER_HOUR


async def hourly_counts(connection: AsyncConnection, *, first: datetime, hours: int) -> list[HourCounts]:
    """``hours`` clock hours from the one holding ``first``, oldest first, hours with nothing counted included."""
    start = hour_of(first)
    end = start + hours * _HOUR
    hour = _hours_since_epoch(connection).label("hour")
    kind = case((counters.c.name.like("opened:%"), "opened"), else_=counters.c.name).label("kind")
    statement = (
        select(hour, kind, func.sum(counters.c.value))
        .where(
            counters.c.bucket >= start,
            counters.c.bucket < end,
            or_(counters.c.name.in_(("events", "conflicting")), counters.c.name.like("opened:%")),
        )
        .group_by(hour, kind)
    )
    totals: dict[datetime, dict[str, int]] = {}
    for number, name, value in await connection.execute(statement):
        moment = datetime.fromtimestamp(int(number) * _SECONDS_PER_HOUR, UTC)
        totals.setdefault(moment, {})[str(name)] = int(value or 0)
    hours_shown = [start + index * _HOUR for index in range(hours)]
    return [_counts(moment, totals.get(moment, {})) for moment in hours_shown]


def _counts(hour: datetime, kinds: dict[str, int]) -> HourCounts:
    return HourCounts(
        hour, events=kinds.get("events", 0), conflicting=kinds.get("conflicting", 0), opened=kinds.get("opened", 0)
    )
