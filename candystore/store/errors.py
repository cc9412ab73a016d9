"""What the store raises; nothing above it sees a SQLAlchemy or driver exception.

Exceptions::

    StoreError (Exception)                 the store failed; ``str()`` says why
    ├── DatabaseUnavailable                the database cannot be reached or dropped the connection:
    │                                      transient, retry later (a consumer holds its deliveries)
    └── InvalidCursor (also ValueError)    a pagination cursor that this store did not issue
"""

from __future__ import annotations

__all__ = ["DatabaseUnavailable", "InvalidCursor", "StoreError"]


class StoreError(Exception):
    """The event store failed."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or lost the connection; the operation may succeed when retried."""


class InvalidCursor(StoreError, ValueError):
    """A ``cursor`` that is not one this store issued (or was tampered with)."""

    def __init__(self, cursor: str) -> None:
        self.cursor = cursor
        super().__init__(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page unchanged")
