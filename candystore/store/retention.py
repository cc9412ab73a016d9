"""Retention: deleting events older than the days configured for their type pattern.

Patterns are event-type patterns (:mod:`holyfields.wildcards`: ``retail.#``,
``*.conflict.*.v1``); they are matched against the distinct stored types in Python,
then each matching type is deleted by the (event_type, timestamp) index.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.schema import causation, events
from holyfields.wildcards import TypePattern

__all__ = ["purge_events"]


async def purge_events(
    connection: AsyncConnection, days_by_pattern: Mapping[str, int], *, now: datetime
) -> dict[str, int]:
    """Delete expired events; returns how many of each type went. The shortest matching retention wins.

    Raises :class:`~holyfields.wildcards.InvalidPattern` for a malformed pattern, before deleting anything.
    """
    patterns = [(TypePattern.parse(pattern), value) for pattern, value in days_by_pattern.items()]
    stored_types = (await connection.execute(select(events.c.event_type).distinct())).scalars().all()
    deleted: dict[str, int] = {}
    for event_type in sorted(stored_types):
        days = [value for pattern, value in patterns if pattern.matches(event_type)]
        if not days:
            continue
        expired = (events.c.event_type == event_type) & (events.c.timestamp < now - timedelta(days=min(days)))
        await connection.execute(
            delete(causation).where(causation.c.child_id.in_(select(events.c.event_id).where(expired)))
        )
        result = await connection.execute(delete(events).where(expired))
        if result.rowcount:
            deleted[event_type] = result.rowcount
    return deleted
