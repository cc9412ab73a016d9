"""What the store raises; nothing above it sees a SQLAlchemy or driver exception.

Exceptions::

    StoreError (Exception)                 the store failed; ``str()`` says why
    ├── DatabaseUnavailable                the database cannot be reached or dropped the connection:
    │                                      transient, retry later
    └── InvalidCursor (also ValueError)    a pagination cursor that this store did not issue
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["DatabaseUnavailable", "InvalidCursor", "StoreError", "translate"]


class StoreError(Exception):
    """The visibility store failed."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or lost the connection; the operation may succeed when retried."""


class InvalidCursor(StoreError, ValueError):
    """A ``cursor`` that is not one this store issued (or was tampered with)."""

    def __init__(self, cursor: str) -> None:
        self.cursor = cursor
        super().__init__(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page unchanged")


def translate(exc: BaseException) -> StoreError:
    """A SQLAlchemy, driver or socket exception as the store's own."""
    if isinstance(exc, PoolTimeout | OSError | TimeoutError):
        return DatabaseUnavailable(f"the database is unavailable: {exc}")
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        if "no such table" in reason or "does not exist" in reason:
            return StoreError(f"the visibility tables are missing ({reason}): `visibility serve` migrates them")
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return DatabaseUnavailable(f"the database is unavailable: {reason}")
        return StoreError(f"the database refused the operation: {reason}")
    return StoreError(f"the store failed: {exc}")
