"""A conflict's lifecycle: the proposal's resolution process as transitions, and the escalation timers.

::

    open ──acknowledge──▶ acknowledged ──fix─────▶ fixed
                                       ├─accept──▶ accepted   (a reason is required)
                                       └─dispute─▶ disputed   (a reason is required: why it is a false positive)

Any other move is refused with :class:`TransitionRefused` saying why (the API answers 409).
While unresolved (open or acknowledged), a conflict escalates by its rule's steps: after
the first step's ``after`` (24 h by default) to the decision authority, after the next
one's (48 h more) to the executive. The deadlines are stored with the conflict, anchored
to the detection, so they hold across restarts; a service that was down catches up at once.

Exceptions::

    LifecycleError (ValueError)
    ├── TransitionRefused        the action does not apply to the conflict's status (409)
    └── ReasonRequired           accept or dispute without a note (422 at ``$.note``)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:  # the store imports this module's Status: at run time only its instances meet here
    from visibility.publishing import OutboxPublisher
    from visibility.rules import RuleSet
    from visibility.store import VisibilityStore
    from visibility.store.records import ConflictRecord

__all__ = [
    "Action",
    "Lifecycle",
    "LifecycleError",
    "ReasonRequired",
    "Status",
    "TransitionRefused",
    "describe_duration",
    "next_status",
]


class Status(StrEnum):
    """Where a conflict stands. Escalation is a level beside the status, not a status of its own."""

    OPEN = "open"
    """Detected; nobody has taken it yet."""
    ACKNOWLEDGED = "acknowledged"
    """A team took it; a resolution is due."""
    FIXED = "fixed"
    """Resolved: the cause was fixed."""
    ACCEPTED = "accepted"
    """Resolved: the difference is acceptable (the reason is recorded)."""
    DISPUTED = "disputed"
    """Resolved: the detection was a false positive (the reason is recorded)."""

    @property
    def resolved(self) -> bool:
        return self not in {Status.OPEN, Status.ACKNOWLEDGED}


class Action(StrEnum):
    """What a person can do to a conflict (``POST /conflicts/{id}/actions``)."""

    ACKNOWLEDGE = "acknowledge"
    """Take the conflict: a team looks into it."""
    FIX = "fix"
    """The cause is fixed."""
    ACCEPT = "accept"
    """The difference is acceptable; the note says why."""
    DISPUTE = "dispute"
    """The detection is a false positive; the note says why."""


log = structlog.get_logger(__name__)

_RESOLUTIONS = {Action.FIX: Status.FIXED, Action.ACCEPT: Status.ACCEPTED, Action.DISPUTE: Status.DISPUTED}
_VERBS = {Action.FIX: "fix", Action.ACCEPT: "accept", Action.DISPUTE: "dispute"}


class LifecycleError(ValueError):
    """An action that cannot be applied."""


class TransitionRefused(LifecycleError):
    """The action does not apply to the conflict in its current status."""

    def __init__(self, conflict_id: object, status: Status, message: str) -> None:
        self.conflict_id = conflict_id
        self.status = status
        super().__init__(message)


class ReasonRequired(LifecycleError):
    """Accepting or disputing a conflict needs a note saying why."""

    def __init__(self, action: Action) -> None:
        self.action = action
        what = "why the difference is acceptable" if action is Action.ACCEPT else "why it is a false positive"
        super().__init__(f"a reason is required to {action.value} a conflict: give a note saying {what}")


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f" since {moment.isoformat(timespec='seconds').replace('+00:00', 'Z')}"


def next_status(conflict: ConflictRecord, action: Action, note: str | None) -> Status:
    """The status ``action`` leads to from ``conflict``'s, or why it cannot be done."""
    status = conflict.status
    if action in {Action.ACCEPT, Action.DISPUTE} and not (note and note.strip()):
        raise ReasonRequired(action)
    if status.resolved:
        raise TransitionRefused(
            conflict.conflict_id,
            status,
            f"conflict {conflict.conflict_id} is already resolved ({status.value}{_when(conflict.resolved_at)}); "
            f"a new occurrence will open a new conflict",
        )
    if action is Action.ACKNOWLEDGE:
        if status is Status.ACKNOWLEDGED:
            raise TransitionRefused(
                conflict.conflict_id,
                status,
                f"conflict {conflict.conflict_id} is already acknowledged{_when(conflict.acknowledged_at)}; "
                "fix, accept or dispute it",
            )
        return Status.ACKNOWLEDGED
    if status is Status.OPEN:
        raise TransitionRefused(
            conflict.conflict_id,
            status,
            f"conflict {conflict.conflict_id} is open: acknowledge it before you {_VERBS[action]} it",
        )
    return _RESOLUTIONS[action]


def describe_duration(duration: timedelta) -> str:
    """``24 h``, ``48 h``, ``90 min``, ``2 s``: for escalation reasons and alerts."""
    seconds = duration.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds <= 3 * 86400):
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


class Lifecycle:
    """Applies people's actions and the escalation timers, and publishes what they resolve or escalate."""

    def __init__(
        self,
        store: VisibilityStore,
        *,
        rules: RuleSet,
        publisher: OutboxPublisher,
        interval: float = 30.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.publisher = publisher
        self.interval = interval
        self._now = now or (lambda: datetime.now(UTC))
        self._steps = {rule.id: rule.escalation for rule in rules.rules}
        self._task: asyncio.Task[None] | None = None

    async def act(
        self, conflict_id: uuid.UUID, action: Action, *, actor: str, note: str | None
    ) -> ConflictRecord | None:
        """Apply ``action``; None when there is no such conflict. Raises :class:`LifecycleError`."""
        applied = await self.store.act(conflict_id, action, actor=actor, note=note, at=self._now())
        if applied is None:
            return None
        if applied.event is not None:
            self.publisher.notify([applied.event])
        return applied.conflict

    async def escalate(self) -> list[ConflictRecord]:
        """Take every escalation step due now; the conflicts escalated."""
        escalated: list[ConflictRecord] = []
        while True:
            applied = await self.store.escalate_due(now=self._now(), steps=self._steps.get)
            if not applied:
                return escalated
            self.publisher.notify([item.event for item in applied if item.event is not None])
            escalated.extend(item.conflict for item in applied)

    async def start(self) -> None:
        """Check for due escalations now (catching up after a pause), then every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="visibility-escalations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        # Imported here: the store imports this module (Status), so this module cannot import the store at load.
        from visibility.store.errors import StoreError  # noqa: PLC0415

        while True:
            try:
                escalated = await self.escalate()
            except StoreError as exc:  # the deadlines are in the store: the next run catches up
                log.warning("escalation run failed", error=str(exc))
            else:
                for conflict in escalated:
                    log.info("conflict escalated", conflict_id=str(conflict.conflict_id), to=conflict.escalated_to)
            await asyncio.sleep(self.interval)
