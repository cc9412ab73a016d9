"""The alert outbox: new conflicts waiting to be grouped, and Slack messages waiting to be delivered.

A message's ``kind`` is ``conflicts`` (a rule's group of new conflicts), ``spike`` (the
conflict rate) or ``escalation`` (one escalation step, queued with the step).

A message row is kept until the webhook accepted it; each failure counts an attempt and
sets when to try next. Nothing is deleted, so the history of what was sent stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.records import ConflictRecord, as_utc
from visibility.store.schema import alert_messages, alerts, conflicts

__all__ = [
    "AlertMessage",
    "add_message",
    "group_waiting",
    "last_message_at",
    "list_messages",
    "mark_delivered",
    "mark_failed",
    "rules_due",
    "undelivered",
]


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """A Slack message in the outbox."""

    id: int
    kind: str
    rule: str | None
    body: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def _message(row: Any) -> AlertMessage:
    return AlertMessage(
        row.id,
        row.kind,
        row.rule,
        dict(row.body),
        row.attempts,
        as_utc(row.next_attempt_at),
        as_utc(row.created_at),
        None if row.delivered_at is None else as_utc(row.delivered_at),
        row.last_error,
    )


async def rules_due(connection: AsyncConnection, *, before: datetime) -> list[str]:
    """Rules with a conflict waiting since before ``before`` (the end of its group's window)."""
    rows = await connection.execute(
        select(alerts.c.rule)
        .where(alerts.c.message_id.is_(None))
        .group_by(alerts.c.rule)
        .having(func.min(alerts.c.created_at) <= before)
        .order_by(alerts.c.rule)
    )
    return [row.rule for row in rows]


async def group_waiting(connection: AsyncConnection, rule: str) -> tuple[list[int], list[ConflictRecord]]:
    """The waiting alert ids of ``rule`` and their conflicts, oldest first."""
    rows = (
        await connection.execute(
            select(alerts.c.id, conflicts)
            .join(conflicts, conflicts.c.conflict_id == alerts.c.conflict_id)
            .where(alerts.c.message_id.is_(None), alerts.c.rule == rule)
            .order_by(alerts.c.created_at, alerts.c.id)
        )
    ).all()
    return [row.id for row in rows], [ConflictRecord.from_row(row) for row in rows]


async def add_message(
    connection: AsyncConnection,
    *,
    kind: str,
    rule: str | None,
    body: Mapping[str, Any],
    at: datetime,
    alert_ids: list[int] | None = None,
) -> int:
    """Queue a message (due at once); the alerts it groups are marked with it."""
    result = await connection.execute(
        insert(alert_messages)
        .values(kind=kind, rule=rule, body=dict(body), created_at=at, attempts=0, next_attempt_at=at)
        .returning(alert_messages.c.id)
    )
    message_id = int(result.scalar_one())
    if alert_ids:
        await connection.execute(update(alerts).where(alerts.c.id.in_(alert_ids)).values(message_id=message_id))
    return message_id


async def undelivered(connection: AsyncConnection, *, limit: int = 20) -> list[AlertMessage]:
    """The oldest messages not delivered yet, in the order they were queued."""
    rows = await connection.execute(
        select(alert_messages).where(alert_messages.c.delivered_at.is_(None)).order_by(alert_messages.c.id).limit(limit)
    )
    return [_message(row) for row in rows]


async def mark_delivered(connection: AsyncConnection, message_id: int, *, at: datetime) -> None:
    await connection.execute(
        update(alert_messages)
        .where(alert_messages.c.id == message_id)
        .values(delivered_at=at, attempts=alert_messages.c.attempts + 1, last_error=None)
    )


async def mark_failed(connection: AsyncConnection, message_id: int, *, error: str, retry_at: datetime) -> None:
    await connection.execute(
        update(alert_messages)
        .where(alert_messages.c.id == message_id)
        .values(attempts=alert_messages.c.attempts + 1, last_error=error[:2000], next_attempt_at=retry_at)
    )


async def last_message_at(connection: AsyncConnection, *, kind: str) -> datetime | None:
    found = await connection.execute(select(func.max(alert_messages.c.created_at)).where(alert_messages.c.kind == kind))
    latest = found.scalar_one_or_none()
    return None if latest is None else as_utc(latest)


async def list_messages(connection: AsyncConnection) -> list[AlertMessage]:
    """Every message, oldest first (for inspection and tests)."""
    rows = await connection.execute(select(alert_messages).order_by(alert_messages.c.id))
    return [_message(row) for row in rows]
