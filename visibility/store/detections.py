"""Writing what the detector found, in one transaction: conflicts, its memory, counters, outboxes.

A finding opens a conflict unless its key (rule, entity, sorted teams) has an
unresolved one; then it is one more occurrence of it (count, last seen, evidence). The
conflict id is a UUIDv5 of the key and the opening occurrence's source events, so a
redelivered event that opens a conflict again finds the same id and changes nothing, and
an occurrence with the same source events as the latest one is not counted twice. After
a resolution, the next occurrence opens a new conflict (other sources, another id).

Only an opening is published (``visibility.conflict.detected.v1``) and alerted: later
occurrences update the stored conflict, which the API shows, without flooding the bus
or Slack with repeats of what is already known.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bloodbank import uuid7
from visibility.domain.detection import DetectionCounts, Finding
from visibility.domain.publications import DETECTED, detected_payload
from visibility.domain.records import ConflictRecord
from visibility.domain.state import StateChanges
from visibility.store.counters import add_counts, minute
from visibility.store.memory import persist_changes
from visibility.store.outbox import OutboxEvent, add_event
from visibility.store.schema import UNRESOLVED, alerts, conflicts

__all__ = ["CONFLICT_NAMESPACE", "DetectionWrite", "WriteResult", "conflict_id_for", "conflict_key", "write_detections"]

CONFLICT_NAMESPACE = uuid.UUID("5b0f7a52-3c43-4d0e-9f7a-6d1c2e0b9a11")
"""The UUIDv5 namespace of conflict ids."""

# A newly opened conflict's row has these columns empty: with its inserted values, they make the record.
_UNSET = {
    "acknowledged_at": None,
    "resolved_at": None,
    "escalation_level": None,
    "escalated_to": None,
    "escalated_at": None,
}

MAX_SOURCE_IDS = 100
"""Source event ids kept per conflict (the opening ones first, then the latest)."""


def conflict_key(finding: Finding) -> str:
    """``rule|entity values|teams``: for product and store, ``price_mismatch|p1|s1|a,b``."""
    entity = "|".join(str(value) for value in finding.entity)
    return f"{finding.rule}|{entity}|{','.join(finding.teams)}"


def conflict_id_for(finding: Finding) -> uuid.UUID:
    """The id a conflict opened by ``finding`` gets: the same for the same key and source events."""
    return uuid.uuid5(CONFLICT_NAMESPACE, f"{conflict_key(finding)}|{','.join(sorted(finding.source_event_ids))}")


@dataclass(slots=True)
class DetectionWrite:
    """Everything one transaction of the detector writes."""

    findings: Sequence[Finding]
    changes: StateChanges
    counts: DetectionCounts
    detected_at: datetime
    first_escalation: Callable[[str], timedelta | None]
    alerting: bool = False
    alerted: Callable[[str], bool] = lambda _rule: True
    """Whether a rule's new conflicts go to Slack (its routing's ``alert``); the others only to the dashboard."""


@dataclass(slots=True)
class WriteResult:
    """What the transaction did."""

    opened: list[ConflictRecord] = field(default_factory=list)
    updated: int = 0
    repeated: int = 0
    events: list[OutboxEvent] = field(default_factory=list)


async def write_detections(connection: AsyncConnection, write: DetectionWrite) -> WriteResult:
    """Apply ``write`` on ``connection`` (the caller's transaction)."""
    result = WriteResult()
    for finding in write.findings:
        await _record(connection, finding, write, result)
    await persist_changes(connection, write.changes)
    await add_counts(connection, _count_names(write.counts, result), minute(write.detected_at))
    return result


def _count_names(counts: DetectionCounts, result: WriteResult) -> dict[str, int]:
    names = {"events": counts.events, "conflicting": counts.conflicting}
    for rule, count in counts.unverifiable.items():
        names[f"unverifiable:{rule}"] = count
    for conflict in result.opened:
        names[f"opened:{conflict.rule}"] = names.get(f"opened:{conflict.rule}", 0) + 1
    return {name: value for name, value in names.items() if value}


async def _record(connection: AsyncConnection, finding: Finding, write: DetectionWrite, result: WriteResult) -> None:
    key = conflict_key(finding)
    sources = ",".join(sorted(finding.source_event_ids))
    found = (
        await connection.execute(
            select(
                conflicts.c.conflict_id,
                conflicts.c.last_sources,
                conflicts.c.source_event_ids,
                conflicts.c.customer_facing,
            ).where(conflicts.c.conflict_key == key, conflicts.c.status.in_(UNRESOLVED))
        )
    ).first()
    if found is not None:
        if found.last_sources == sources:
            result.repeated += 1
            return
        kept = list(found.source_event_ids)
        kept += [event_id for event_id in finding.source_event_ids if event_id not in kept]
        if len(kept) > MAX_SOURCE_IDS:
            kept = kept[: MAX_SOURCE_IDS // 2] + kept[-MAX_SOURCE_IDS // 2 :]
        await connection.execute(
            update(conflicts)
            .where(conflicts.c.conflict_id == found.conflict_id)
            .values(
                occurrence_count=conflicts.c.occurrence_count + 1,
                last_occurred_at=finding.occurred_at,
                last_detected_at=write.detected_at,
                last_sources=sources,
                details=finding.details,
                source_event_ids=kept,
                customer_facing=bool(found.customer_facing) or finding.customer_facing,
            )
        )
        result.updated += 1
        return
    await _open(connection, finding, key=key, sources=sources, write=write, result=result)


async def _open(
    connection: AsyncConnection, finding: Finding, *, key: str, sources: str, write: DetectionWrite, result: WriteResult
) -> None:
    conflict_id = conflict_id_for(finding)
    exists = await connection.execute(select(conflicts.c.conflict_id).where(conflicts.c.conflict_id == conflict_id))
    if exists.first() is not None:  # opened by this very occurrence before (a redelivery), since resolved
        result.repeated += 1
        return
    delay = write.first_escalation(finding.rule)
    values: dict[str, Any] = {
        "conflict_id": conflict_id,
        "conflict_key": key,
        "rule": finding.rule,
        "rule_version": finding.rule_version,
        "severity": finding.severity,
        "product_id": finding.product_id,
        "store_id": finding.store_id,
        "teams": list(finding.teams),
        "teams_text": f",{','.join(finding.teams)},",
        "status": "open",
        "source_event_ids": list(finding.source_event_ids),
        "occurred_at": finding.occurred_at,
        "detected_at": write.detected_at,
        "last_occurred_at": finding.occurred_at,
        "last_detected_at": write.detected_at,
        "occurrence_count": 1,
        "last_sources": sources,
        "details": finding.details,
        "customer_facing": finding.customer_facing,
        "escalation_step": 0,
        "next_escalation_at": None if delay is None else write.detected_at + delay,
    }
    event_id = uuid7()
    values["detected_event_id"] = uuid.UUID(event_id)
    await connection.execute(insert(conflicts).values(**values))
    conflict = ConflictRecord.from_row(SimpleNamespace(**_UNSET, **values))
    event = await add_event(
        connection,
        DETECTED,
        detected_payload(conflict),
        correlation_ids=finding.source_event_ids,
        at=write.detected_at,
        event_id=event_id,
    )
    result.events.append(event)
    result.opened.append(conflict)
    if write.alerting and write.alerted(finding.rule):
        await connection.execute(
            insert(alerts).values(rule=finding.rule, conflict_id=conflict_id, created_at=write.detected_at)
        )
