"""One problem with what a client sent: where it is and what is wrong.

Event validation (:mod:`holyfields.validation`) finds them and every HTTP service answers
them (:mod:`gumdrop.http_errors`), so that a problem reads the same wherever it is found.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ValidationIssue"]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem: where (a JSON path ``$…``, ``query.NAME``, ``path.NAME``; empty for the whole) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
