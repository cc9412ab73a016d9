"""How each rule's conflicts were resolved over a period: resolutions, disputes, and what the disputed ones measured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.rule_health import RuleOutcomes, measured_of
from visibility.store.schema import conflicts

__all__ = ["MAX_DISPUTED_READ", "read_rule_outcomes"]

RESOLVED = ("fixed", "accepted", "disputed")
MAX_DISPUTED_READ = 1000
"""Disputed conflicts read per rule for the suggestion, the latest first."""


async def read_rule_outcomes(connection: AsyncConnection, rule: str, *, since: datetime) -> RuleOutcomes:
    """The resolutions of ``rule``'s conflicts resolved since ``since``."""
    counted = await connection.execute(
        select(conflicts.c.status, func.count())
        .where(conflicts.c.rule == rule, conflicts.c.status.in_(RESOLVED), conflicts.c.resolved_at >= since)
        .group_by(conflicts.c.status)
    )
    by_status = {status: int(count) for status, count in counted.all()}
    disputed = await connection.execute(
        select(conflicts.c.details)
        .where(conflicts.c.rule == rule, conflicts.c.status == "disputed", conflicts.c.resolved_at >= since)
        .order_by(conflicts.c.resolved_at.desc())
        .limit(MAX_DISPUTED_READ)
    )
    measured = [value for (details,) in disputed.all() if (value := measured_of(details)) is not None]
    return RuleOutcomes(
        resolved=sum(by_status.values()), disputed=by_status.get("disputed", 0), disputed_measured=measured
    )
