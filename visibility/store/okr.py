"""The raw figures behind the OKRs, read in one transaction: counters and the conflicts of a period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.okr import OkrInputs
from visibility.domain.records import as_utc
from visibility.store.counters import sum_counts
from visibility.store.schema import UNRESOLVED, conflicts

__all__ = ["read_okr_inputs"]


async def read_okr_inputs(connection: AsyncConnection, *, since: datetime, week_ago: datetime) -> OkrInputs:
    rows = (
        await connection.execute(
            select(conflicts.c.occurred_at, conflicts.c.detected_at, conflicts.c.resolved_at, conflicts.c.status).where(
                conflicts.c.detected_at >= since
            )
        )
    ).all()
    detections = [(as_utc(row.occurred_at), as_utc(row.detected_at)) for row in rows]
    resolutions = [
        (as_utc(row.detected_at), None if row.resolved_at is None else as_utc(row.resolved_at), row.status)
        for row in rows
    ]
    facing = await connection.execute(
        select(func.count()).where(conflicts.c.detected_at >= week_ago, conflicts.c.customer_facing.is_(True))
    )
    unresolved = await connection.execute(select(func.count()).where(conflicts.c.status.in_(UNRESOLVED)))
    escalated = await connection.execute(
        select(func.count()).where(conflicts.c.status.in_(UNRESOLVED), conflicts.c.escalation_level.is_not(None))
    )
    return OkrInputs(
        counts=await sum_counts(connection, since=since),
        detections=detections,
        resolutions=resolutions,
        customer_facing_week=int(facing.scalar_one()),
        unresolved_now=int(unresolved.scalar_one()),
        escalated_now=int(escalated.scalar_one()),
    )
