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
a consumer treats it as any unexpected exception. :func:`blame` tells the first two apart by
the driver's error code: PostgreSQL's SQLSTATE, SQLite's error name (its message when it has none).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Blame", "DatabaseUnavailable", "InvalidCursor", "RecordRejected", "StoreError", "blame"]


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


class Blame(StrEnum):
    """What a database error is caused by."""

    INFRASTRUCTURE = "infrastructure"
    """The database or the way to it: retrying the same operation later may succeed."""
    RECORD = "record"
    """The data written: the same records are refused again."""
    UNKNOWN = "unknown"
    """Neither is known (a statement the database does not understand, an internal error)."""


_INFRASTRUCTURE_SQLSTATE_CLASSES = ("08", "53", "58")
"""Connection exception; insufficient resources (disk full, out of memory, too many connections); system error."""
_INFRASTRUCTURE_SQLSTATES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a standby, or default_transaction_read_only
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57014",  # query_canceled: statement_timeout
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up or shutting down
    }
)
_RECORD_SQLSTATE_CLASSES = ("22", "23", "54")
"""Data exception (out of range, too long, untranslatable character…); integrity constraint; program limit
exceeded (an index row too big…)."""

_INFRASTRUCTURE_SQLITE_ERRORS = (
    "SQLITE_BUSY",  # database is locked
    "SQLITE_LOCKED",
    "SQLITE_FULL",  # database or disk is full
    "SQLITE_READONLY",  # attempt to write a readonly database
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_NOMEM",
    "SQLITE_PROTOCOL",
    "SQLITE_INTERRUPT",
)
_RECORD_SQLITE_ERRORS = ("SQLITE_CONSTRAINT", "SQLITE_TOOBIG", "SQLITE_MISMATCH")
_INFRASTRUCTURE_SQLITE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database or disk is full",
    "attempt to write a readonly database",
    "disk i/o error",
    "unable to open database file",
)
_RECORD_SQLITE_MESSAGES = ("constraint failed", "string or blob too big", "datatype mismatch")


def blame(code: str | None, message: str) -> Blame:
    """What caused a database error, from its ``code`` (a SQLSTATE or a SQLite error name) or its message."""
    if code is not None and code.startswith("SQLITE_"):
        if code.startswith(_INFRASTRUCTURE_SQLITE_ERRORS):
            return Blame.INFRASTRUCTURE
        return Blame.RECORD if code.startswith(_RECORD_SQLITE_ERRORS) else Blame.UNKNOWN
    if code is not None:
        if code in _INFRASTRUCTURE_SQLSTATES or code.startswith(_INFRASTRUCTURE_SQLSTATE_CLASSES):
            return Blame.INFRASTRUCTURE
        return Blame.RECORD if code.startswith(_RECORD_SQLSTATE_CLASSES) else Blame.UNKNOWN
    lowered = message.lower()  # an error that carries no code: SQLite's messages are all there is
    if any(known in lowered for known in _INFRASTRUCTURE_SQLITE_MESSAGES):
        return Blame.INFRASTRUCTURE
    return Blame.RECORD if any(known in lowered for known in _RECORD_SQLITE_MESSAGES) else Blame.UNKNOWN
