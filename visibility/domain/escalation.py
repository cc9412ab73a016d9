"""Escalation, said in words: how long a conflict went unresolved, and why it is escalated.

While unresolved, a conflict escalates by its rule's steps (:class:`~visibility.rules.EscalationStep`),
each ``after`` the previous one; the store keeps the deadlines and the lifecycle runner takes them.
"""

from __future__ import annotations

from datetime import timedelta

from visibility.domain.records import ConflictRecord
from visibility.rules import EscalationStep

__all__ = ["describe_duration", "escalation_reason"]


def describe_duration(duration: timedelta) -> str:
    """``24 h``, ``48 h``, ``90 min``, ``2 s``: for escalation reasons and alerts."""
    seconds = duration.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds <= 3 * 86400):
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def escalation_reason(conflict: ConflictRecord, step: EscalationStep) -> str:
    """Why ``step`` is taken now: how long ``conflict`` stayed unresolved, and since what."""
    if conflict.escalation_level is None:
        return f"Unresolved {describe_duration(step.after)} after detection."
    return f"Unresolved {describe_duration(step.after)} after escalation to {conflict.escalated_to}."
