"""A conflict's resolution process: what a person can do to it, and the status each action leads to.

::

    open ──acknowledge──▶ acknowledged ──fix─────▶ fixed
                                       ├─accept──▶ accepted   (a reason is required)
                                       └─dispute─▶ disputed   (a reason is required: why it is a false positive)

Any other move is refused with :class:`TransitionRefused` saying why (the API answers 409).

Exceptions::

    LifecycleError (ValueError)
    ├── TransitionRefused        the action does not apply to the conflict's status (409)
    └── ReasonRequired           accept or dispute without a note (422 at ``$.note``)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from visibility.domain.records import ConflictRecord
from visibility.domain.status import Status

__all__ = ["Action", "LifecycleError", "ReasonRequired", "TransitionRefused", "next_status"]


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
