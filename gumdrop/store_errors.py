"""What a store raises; nothing above a store sees a SQLAlchemy or driver exception.

Exceptions::

    StoreError (Exception)                 the store failed; ``str()`` says why
    ├── DatabaseUnavailable                the infrastructure failed, not the data: the database cannot be
    │   (also ServiceUnavailable)          reached or dropped the connection, timed out, is full, read-only
    │                                      or shutting down, lost a serialization race, or lacks its tables;
    │                                      transient, retry later (a consumer holds its deliveries)
    ├── RecordRejected                     the database refused the data written (a value out of range or
    │                                      too long, a constraint, a size limit): the same records fail the
    │                                      same way again (a consumer sets the record at fault aside)
    └── InvalidCursor (also ValueError)    a pagination cursor that this store did not issue

A plain :class:`StoreError` is neither (a statement the database does not understand, say):
a consumer treats it as any unexpected exception. :class:`ErrorTranslation` tells them apart
with :func:`gumdrop.database_errors.classify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gumdrop.database_errors import Cause, classify
from gumdrop.unavailable import ServiceUnavailable

__all__ = ["DatabaseUnavailable", "ErrorTranslation", "InvalidCursor", "RecordRejected", "StoreError"]


class StoreError(Exception):
    """A store failed."""


class DatabaseUnavailable(StoreError, ServiceUnavailable):
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


@dataclass(frozen=True, slots=True)
class ErrorTranslation:
    """A store's translation of SQLAlchemy, driver and socket exceptions, by what caused them.

    ``tables`` and ``remedy`` make the sentence about an unmigrated database: what the tables are
    and how to create them (``"the store's tables are missing (…): run `candystore migrate`"``).
    """

    tables: str
    remedy: str

    def __call__(self, exc: BaseException) -> StoreError:
        fault = classify(exc)
        if fault.cause is Cause.MISSING_TABLES:  # held until migrated, never blamed on the data
            return DatabaseUnavailable(f"{self.tables} are missing ({fault.reason}): {self.remedy}")
        if fault.cause is Cause.INFRASTRUCTURE:
            return DatabaseUnavailable(f"the database is unavailable: {fault.reason}")
        if fault.cause is Cause.RECORD:
            return RecordRejected(
                f"the database refused the data ({fault.code or 'no code'}): {fault.reason}", code=fault.code
            )
        return StoreError(f"the store failed: {fault.reason}")
