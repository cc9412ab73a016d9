"""Where a conflict stands: open, acknowledged, or resolved one of three ways."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Status"]


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
