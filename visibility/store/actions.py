"""Writing the lifecycle: a person's action on one conflict or on many, and the escalations that fall due.

Each runs in the caller's transaction and records an action row (who, when, note) and,
for resolutions and escalations, the event to publish in the outbox. The status update
is conditional on the status read, so two concurrent actions cannot both apply.

An action on many conflicts judges each one on its own (applied, no such conflict, or
refused in its status) and applies every one that can be, together, in that transaction.
An escalation queues its Slack message in the same transaction when alerting is on, so
each step is announced once, whatever restarts in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.escalation import escalation_reason
from visibility.domain.publications import ESCALATED, RESOLVED, escalated_payload, resolved_payload
from visibility.domain.records import ConflictRecord, as_utc
from visibility.domain.status import Status
from visibility.domain.transitions import Action, ReasonRequired, TransitionRefused, next_status
from visibility.rules import EscalationStep
from visibility.store.alerts import add_message
from visibility.store.outbox import OutboxEvent, add_event
from visibility.store.queries import get_conflict
from visibility.store.schema import UNRESOLVED, conflict_actions, conflicts

__all__ = [
    "SYSTEM_ACTOR",
    "Applied",
    "EscalationMessage",
    "Outcome",
    "Result",
    "apply_action",
    "apply_action_to_many",
    "escalate_due",
]

SYSTEM_ACTOR = "visibility"
"""Who escalations are recorded as."""


@dataclass(frozen=True, slots=True)
class Applied:
    """A conflict after an action or an escalation, and the event it publishes (if any)."""

    conflict: ConflictRecord
    event: OutboxEvent | None


class Outcome(StrEnum):
    """What an action on many conflicts did to one of them."""

    APPLIED = "applied"
    """The action was applied."""
    NOT_FOUND = "not_found"
    """There is no conflict with that id."""
    REFUSED = "refused"
    """The action does not apply to the conflict's status (the message says why)."""


@dataclass(frozen=True, slots=True)
class Result:
    """One conflict's outcome in an action on many: the conflict as it is after it (None when not found)."""

    conflict_id: uuid.UUID
    outcome: Outcome
    conflict: ConflictRecord | None
    event: OutboxEvent | None = None
    message: str | None = None


EscalationMessage = Callable[[ConflictRecord, EscalationStep, str], Mapping[str, Any]]
"""Builds the Slack message of an escalation step: the conflict after it, the step, and why it was taken."""


async def _record_action(
    connection: AsyncConnection,
    conflict_id: uuid.UUID,
    *,
    action: str,
    actor: str,
    note: str | None,
    at: datetime,
    status_after: str,
) -> None:
    await connection.execute(
        insert(conflict_actions).values(
            conflict_id=conflict_id, action=action, actor=actor, note=note, at=at, status_after=status_after
        )
    )


async def apply_action(
    connection: AsyncConnection, conflict_id: uuid.UUID, action: Action, *, actor: str, note: str | None, at: datetime
) -> Applied | None:
    """Apply ``action``; None when there is no such conflict. Raises the lifecycle's errors."""
    conflict = await get_conflict(connection, conflict_id)
    if conflict is None:
        return None
    status = next_status(conflict, action, note)
    values: dict[str, object] = {"status": status.value}
    if status is Status.ACKNOWLEDGED:
        values["acknowledged_at"] = at
    else:
        values.update(resolved_at=at, next_escalation_at=None)
    changed = await connection.execute(
        update(conflicts)
        .where(conflicts.c.conflict_id == conflict_id, conflicts.c.status == conflict.status.value)
        .values(**values)
    )
    if changed.rowcount != 1:  # another action got there first: judge against what it left
        latest = await get_conflict(connection, conflict_id)
        assert latest is not None  # noqa: S101 - conflicts are never deleted
        next_status(latest, action, note)
        raise TransitionRefused(conflict_id, latest.status, f"conflict {conflict_id} changed meanwhile; try again")
    await _record_action(
        connection, conflict_id, action=action.value, actor=actor, note=note, at=at, status_after=status.value
    )
    updated = await get_conflict(connection, conflict_id)
    assert updated is not None  # noqa: S101 - just updated
    event = None
    if status.resolved:
        event = await add_event(
            connection,
            RESOLVED,
            resolved_payload(updated, actor=actor, note=note, at=at),
            correlation_ids=[str(updated.detected_event_id)],
            at=at,
        )
    return Applied(updated, event)


async def apply_action_to_many(
    connection: AsyncConnection,
    conflict_ids: Sequence[uuid.UUID],
    action: Action,
    *,
    actor: str,
    note: str | None,
    at: datetime,
) -> list[Result]:
    """Apply ``action`` to each conflict that allows it; one result per id, in order.

    Raises :class:`~visibility.domain.transitions.ReasonRequired` (for all of them) when the action needs a note.
    """
    if action in {Action.ACCEPT, Action.DISPUTE} and not (note and note.strip()):
        raise ReasonRequired(action)
    results: list[Result] = []
    for conflict_id in conflict_ids:
        try:
            applied = await apply_action(connection, conflict_id, action, actor=actor, note=note, at=at)
        except TransitionRefused as exc:  # nothing was written for it: the others go on
            refused = await get_conflict(connection, conflict_id)
            results.append(Result(conflict_id, Outcome.REFUSED, refused, message=str(exc)))
            continue
        if applied is None:
            results.append(Result(conflict_id, Outcome.NOT_FOUND, None, message=f"no conflict {conflict_id}"))
        else:
            results.append(Result(conflict_id, Outcome.APPLIED, applied.conflict, applied.event))
    return results


async def escalate_due(
    connection: AsyncConnection,
    *,
    now: datetime,
    steps: Callable[[str], tuple[EscalationStep, ...] | None],
    limit: int = 100,
    message: EscalationMessage | None = None,
) -> list[Applied]:
    """Take the next escalation step of every unresolved conflict whose deadline has passed (at most ``limit``).

    With ``message``, each step also queues its Slack message in the alert outbox.
    """
    rows = await connection.execute(
        select(conflicts.c.conflict_id)
        .where(conflicts.c.status.in_(UNRESOLVED), conflicts.c.next_escalation_at <= now)
        .order_by(conflicts.c.next_escalation_at)
        .limit(limit)
    )
    applied: list[Applied] = []
    for (conflict_id,) in rows.all():
        conflict = await get_conflict(connection, conflict_id)
        if conflict is None or conflict.next_escalation_at is None:
            continue
        applied.extend(await _escalate(connection, conflict, steps(conflict.rule), now, message))
    return applied


async def _escalate(
    connection: AsyncConnection,
    conflict: ConflictRecord,
    steps: tuple[EscalationStep, ...] | None,
    now: datetime,
    message: EscalationMessage | None,
) -> list[Applied]:
    due = as_utc(conflict.next_escalation_at) if conflict.next_escalation_at else now
    if not steps or conflict.escalation_step >= len(steps):  # the rule is gone or has fewer steps now
        await connection.execute(
            update(conflicts).where(conflicts.c.conflict_id == conflict.conflict_id).values(next_escalation_at=None)
        )
        return []
    step = steps[conflict.escalation_step]
    following = steps[conflict.escalation_step + 1] if conflict.escalation_step + 1 < len(steps) else None
    reason = escalation_reason(conflict, step)
    await connection.execute(
        update(conflicts)
        .where(conflicts.c.conflict_id == conflict.conflict_id)
        .values(
            escalation_level=step.level.value,
            escalated_to=step.to,
            escalated_at=now,
            escalation_step=conflict.escalation_step + 1,
            # Anchored to the schedule, not to this run: after a pause the next step is not pushed back.
            next_escalation_at=None if following is None else due + following.after,
        )
    )
    await _record_action(
        connection,
        conflict.conflict_id,
        action="escalate",
        actor=SYSTEM_ACTOR,
        note=f"{reason} Escalated to {step.to} ({step.level.value}).",
        at=now,
        status_after=conflict.status.value,
    )
    updated = await get_conflict(connection, conflict.conflict_id)
    assert updated is not None  # noqa: S101 - just updated
    event = await add_event(
        connection,
        ESCALATED,
        escalated_payload(updated, level=step.level.value, escalated_to=step.to, reason=reason, at=now),
        correlation_ids=[str(updated.detected_event_id)],
        at=now,
    )
    if message is not None:
        body = message(updated, step, reason)
        await add_message(connection, kind="escalation", rule=updated.rule, body=body, at=now)
    return [Applied(updated, event)]
