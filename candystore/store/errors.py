"""What the store raises; nothing above it sees a SQLAlchemy or driver exception.

Exceptions::

    StoreError (Exception)                 the store failed; ``str()`` says why
    ├── DatabaseUnavailable                the infrastructure failed, not the data: the database cannot be
    │                                      reached or dropped the connection, timed out, is full, read-only
    │                                      or shutting down, lost a serialization race, or lacks its tables;
    │                                      transient, retry later (a consumer holds its deliveries)
    ├── RecordRejected                     the database refused the data written (a value out of range or
    │                                      too long, a constraint, a size limit): the same records fail the
    │                                      same way again (a consumer dead-letters the record at fault)
    └── InvalidCursor (also ValueError)    a pagination cursor that this store did not issue

A plain :class:`StoreError` is neither (a statement the database does not understand, say):
a consumer treats it as any unexpected exception. :func:`translate` tells them apart with
:func:`gumdrop.database_errors.classify`.
"""

from __future__ import annotations

from gumdrop.database_errors import Cause, classify

__all__ = ["DatabaseUnavailable", "InvalidCursor", "RecordRejected", "StoreError", "translate"]


class StoreError(Exception):
    """The event store failed."""


class DatabaseUnavailable(StoreError):
    """The database cannot do its work now, whatever the data; the operation may succeed when retried."""


class RecordRejected(StoreError):
    """The database refused the data written; ``code`` is its SQLSTATE (PostgreSQL) or error name (SQLite)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class InvalidCursor(StoreError, ValueError):
    """A ``cursor`` that is not one this store issued (or was tampered with)."""

    def __init__(self, cursor: str) -> None:
        self.cursor = cursor
        super().__init__(f"invalid cursor {cursor[:40]!r}: pass back the next_cursor of a previous page unchanged")


def translate(exc: BaseException) -> StoreError:
    """The store's error for a SQLAlchemy, driver or socket exception, by what caused it."""
    fault = classify(exc)
    if fault.cause is Cause.MISSING_TABLES:  # held until migrated, never blamed on the events
        return DatabaseUnavailable(f"the store's tables are missing ({fault.reason}): run `candystore migrate`")
    if fault.cause is Cause.INFRASTRUCTURE:
        return DatabaseUnavailable(f"the database is unavailable: {fault.reason}")
    if fault.cause is Cause.RECORD:
        return RecordRejected(
            f"the database refused the data ({fault.code or 'no code'}): {fault.reason}", code=fault.code
        )
    return StoreError(f"the store failed: {fault.reason}")
