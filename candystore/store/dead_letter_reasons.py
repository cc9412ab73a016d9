"""Open dead letters counted by consumer and reason, for the operations view of the queues (``GET /consumers``).

A dead letter's reason is its error up to the first colon: the error's type or kind
(``RuntimeError``, ``unrouted``, ``invalid envelope``), without the message of each one,
so that a consumer's failures fall into a few groups. The split is made in SQL (SQLite's
``instr``, PostgreSQL's ``split_part``) so that only the groups leave the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.dead_letters import DeadLetterState
from candystore.store.schema import dead_letters

__all__ = ["UNKNOWN_REASON", "DeadLetterReason", "count_open_reasons"]

UNKNOWN_REASON = "unknown"
"""The reason of a dead letter that carries no error."""


@dataclass(frozen=True, slots=True)
class DeadLetterReason:
    """How many open dead letters one consumer has for one reason."""

    consumer: str | None
    reason: str
    count: int


def _reason(dialect: str) -> ColumnElement[str]:
    error = dead_letters.c.error
    if dialect == "postgresql":
        return func.split_part(error, ":", 1)
    colon = func.instr(error, ":")
    return case((colon > 0, func.substr(error, 1, colon - 1)), else_=error)


async def count_open_reasons(connection: AsyncConnection) -> list[DeadLetterReason]:
    """The open dead letters by consumer and reason, most first."""
    reason = _reason(connection.dialect.name).label("reason")
    statement = (
        select(dead_letters.c.consumer, reason, func.count().label("count"))
        .where(dead_letters.c.state == DeadLetterState.OPEN.value)
        .group_by(dead_letters.c.consumer, reason)
    )
    counted: dict[tuple[str | None, str], int] = {}
    for consumer, text, count in (await connection.execute(statement)).all():
        key = (consumer, (text or "").strip() or UNKNOWN_REASON)  # "x" and "x " fold together once trimmed
        counted[key] = counted.get(key, 0) + int(count)
    found = [DeadLetterReason(consumer, text, count) for (consumer, text), count in counted.items()]
    return sorted(found, key=lambda item: (-item.count, item.consumer or "", item.reason))
