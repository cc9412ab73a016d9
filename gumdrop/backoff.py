"""The one backoff policy: how long to pause before the next attempt at something failing.

Every retry of the platform (a batch held while the database is down, a publish waiting for
the broker, a consumer restoring itself, an alert whose webhook fails) pauses by a
:class:`Backoff`: a first pause, doubled per attempt up to a ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """``first`` seconds before the second attempt, doubling after each failure, never more than ``ceiling``."""

    first: float
    ceiling: float

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.ceiling:
            raise ValueError(f"a backoff needs 0 < first <= ceiling, got first={self.first}, ceiling={self.ceiling}")

    def pause(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed attempts in a row (1 or more; 0 counts as 1)."""
        return min(self.first * 2.0 ** min(max(failures - 1, 0), 60), self.ceiling)
