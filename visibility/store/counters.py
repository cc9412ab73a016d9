"""Per-minute counters: events evaluated, events in conflict, conflicts opened and unverifiable checks by rule.

They feed the OKR conflict rate and the spike alert; a minute's row is incremented by
each transaction of the detector that falls in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.records import as_utc
from visibility.store.schema import counters
from visibility.store.upsert import upsert

__all__ = ["add_counts", "minute", "sum_counts"]


def minute(moment: datetime) -> datetime:
    """The start of the minute ``moment`` falls in, in UTC."""
    return as_utc(moment).replace(second=0, microsecond=0)


async def add_counts(connection: AsyncConnection, counts: Mapping[str, int], bucket: datetime) -> None:
    rows = [{"bucket": bucket, "name": name, "value": value} for name, value in sorted(counts.items()) if value]
    await upsert(connection, counters, rows, keys=("bucket", "name"), add=("value",))


async def sum_counts(connection: AsyncConnection, *, since: datetime, until: datetime | None = None) -> dict[str, int]:
    """Every counter summed over the minutes from ``since``'s (inclusive) to ``until`` (exclusive)."""
    statement = (
        select(counters.c.name, func.sum(counters.c.value))
        .where(counters.c.bucket >= minute(since))
        .group_by(counters.c.name)
    )
    if until is not None:
        statement = statement.where(counters.c.bucket < until)
    return {name: int(total or 0) for name, total in await connection.execute(statement)}
