"""Outbound delivery subscriptions made through the API, and the record of every event they delivered.

A subscription row is created once under its name (a second create finds it taken), changed
in place and deleted with its delivery records. A delivery record is written after the
receiver answered 2xx and before the delivery is acknowledged: an event whose record exists
is not sent again by that subscription, whoever redelivers or replays it. Records older than
the retention are purged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.schema import deliveries, subscriptions
from gumdrop.utc import as_utc

__all__ = [
    "DeliveryRecord",
    "SubscriptionRecord",
    "delete_subscription",
    "delivered_events",
    "get_subscription",
    "insert_deliveries",
    "insert_subscription",
    "list_subscriptions",
    "purge_deliveries",
    "update_subscription",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRecord:
    """A subscription as stored: what was given (null where the default applies) and who made it when."""

    name: str
    patterns: tuple[str, ...]
    filters: tuple[str, ...]
    url: str
    secret: str
    retry_delays: tuple[float, ...] | None
    concurrency: int | None
    timeout: float | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "patterns": list(self.patterns),
            "filters": list(self.filters),
            "url": self.url,
            "secret": self.secret,
            "retry_delays": None if self.retry_delays is None else list(self.retry_delays),
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_at": self.created_at.astimezone(UTC),
            "created_by": self.created_by,
            "updated_at": self.updated_at.astimezone(UTC),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event a subscription delivered: the receiver's status, the attempt that succeeded and when."""

    subscription: str
    event_id: uuid.UUID
    status: int
    attempts: int
    delivered_at: datetime


def _record(row: Row[Any]) -> SubscriptionRecord:
    return SubscriptionRecord(
        name=row.name,
        patterns=tuple(row.patterns),
        filters=tuple(row.filters),
        url=row.url,
        secret=row.secret,
        retry_delays=None if row.retry_delays is None else tuple(float(delay) for delay in row.retry_delays),
        concurrency=row.concurrency,
        timeout=row.timeout,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        updated_at=as_utc(row.updated_at),
        updated_by=row.updated_by,
    )


def _insert(connection: AsyncConnection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


async def insert_subscription(connection: AsyncConnection, record: SubscriptionRecord) -> bool:
    """Insert ``record``; False when a subscription of that name exists (nothing is changed then)."""
    statement = (
        _insert(connection)(subscriptions)
        .values(record.row())
        .on_conflict_do_nothing(index_elements=[subscriptions.c.name])
        .returning(subscriptions.c.name)
    )
    return (await connection.execute(statement)).first() is not None


async def list_subscriptions(connection: AsyncConnection) -> list[SubscriptionRecord]:
    """Every stored subscription, by name."""
    rows = (await connection.execute(select(subscriptions).order_by(subscriptions.c.name))).all()
    return [_record(row) for row in rows]


async def get_subscription(connection: AsyncConnection, name: str) -> SubscriptionRecord | None:
    row = (await connection.execute(select(subscriptions).where(subscriptions.c.name == name))).first()
    return None if row is None else _record(row)


async def update_subscription(
    connection: AsyncConnection, name: str, values: Mapping[str, Any]
) -> SubscriptionRecord | None:
    """Change the given columns of subscription ``name``; the row after the change, or None if there is none."""
    changes = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
    statement = update(subscriptions).where(subscriptions.c.name == name).values(changes).returning(*subscriptions.c)
    row = (await connection.execute(statement)).first()
    return None if row is None else _record(row)


async def delete_subscription(connection: AsyncConnection, name: str) -> SubscriptionRecord | None:
    """Delete subscription ``name`` and its delivery records; the deleted row, or None if there was none."""
    row = (
        await connection.execute(delete(subscriptions).where(subscriptions.c.name == name).returning(*subscriptions.c))
    ).first()
    if row is None:
        return None
    await connection.execute(delete(deliveries).where(deliveries.c.subscription == name))
    return _record(row)


async def delivered_events(
    connection: AsyncConnection, subscription: str, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``event_ids`` that ``subscription`` has delivered."""
    if not event_ids:
        return set()
    statement = select(deliveries.c.event_id).where(
        deliveries.c.subscription == subscription, deliveries.c.event_id.in_(event_ids)
    )
    return set((await connection.execute(statement)).scalars())


async def insert_deliveries(connection: AsyncConnection, records: Sequence[DeliveryRecord]) -> None:
    """Record deliveries; one recorded already (a redelivery raced its record) is kept as it was."""
    if not records:
        return
    statement = _insert(connection)(deliveries).on_conflict_do_nothing(
        index_elements=[deliveries.c.subscription, deliveries.c.event_id]
    )
    rows = [
        {
            "subscription": record.subscription,
            "event_id": record.event_id,
            "status": record.status,
            "attempts": record.attempts,
            "delivered_at": record.delivered_at.astimezone(UTC),
        }
        for record in records
    ]
    await connection.execute(statement, rows)


async def purge_deliveries(connection: AsyncConnection, *, before: datetime) -> int:
    """Forget the deliveries made before ``before``; how many records were deleted."""
    result = await connection.execute(delete(deliveries).where(deliveries.c.delivered_at < before.astimezone(UTC)))
    return int(result.rowcount or 0)
