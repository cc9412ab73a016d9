"""The bus outbox: events to publish, written in the transaction of their cause, published after it.

A crash or a broker outage between the commit and the publish loses nothing: the row
stays unpublished and is published again, with the same ``event_id``, until the broker
confirms it (consumers absorb a repeat by its id).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bloodbank import uuid7
from visibility.domain.records import as_utc
from visibility.store.schema import outbox

__all__ = ["OutboxEvent", "add_event", "mark_failed", "mark_published", "unpublished"]


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event waiting to be published."""

    event_id: str
    event_type: str
    payload: dict[str, Any]
    correlation_ids: tuple[str, ...]
    created_at: datetime


async def add_event(
    connection: AsyncConnection,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    correlation_ids: Sequence[str],
    at: datetime,
    event_id: str | None = None,
) -> OutboxEvent:
    """Queue an event for publication in the caller's transaction."""
    event = OutboxEvent(event_id or uuid7(), event_type, dict(payload), tuple(correlation_ids), at)
    await connection.execute(
        insert(outbox).values(
            event_id=uuid.UUID(event.event_id),
            event_type=event_type,
            payload=event.payload,
            correlation_ids=list(event.correlation_ids),
            created_at=at,
            attempts=0,
        )
    )
    return event


async def unpublished(connection: AsyncConnection, *, limit: int = 100) -> list[OutboxEvent]:
    """The oldest events not yet confirmed by the broker."""
    rows = await connection.execute(
        select(outbox)
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.created_at, outbox.c.event_id)
        .limit(limit)
    )
    return [
        OutboxEvent(
            str(row.event_id), row.event_type, dict(row.payload), tuple(row.correlation_ids), as_utc(row.created_at)
        )
        for row in rows
    ]


async def mark_published(connection: AsyncConnection, event_ids: Sequence[str], *, at: datetime) -> None:
    if event_ids:
        await connection.execute(
            update(outbox)
            .where(outbox.c.event_id.in_([uuid.UUID(event_id) for event_id in event_ids]))
            .values(published_at=at, last_error=None)
        )


async def mark_failed(connection: AsyncConnection, event_id: str, *, error: str) -> None:
    await connection.execute(
        update(outbox)
        .where(outbox.c.event_id == uuid.UUID(event_id))
        .values(attempts=outbox.c.attempts + 1, last_error=error[:2000])
    )
