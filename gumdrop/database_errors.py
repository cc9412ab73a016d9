"""What caused a database error: the infrastructure, the data written, the schema, or something else.

A store translates SQLAlchemy's, the driver's and the network's exceptions into its own at its
boundary; what it raises depends on the cause :func:`classify` finds:

    Cause.INFRASTRUCTURE    the database or the way to it (unreachable, timed out, full, read-only,
                            shutting down, a lost serialization race): retry later, hold the work
    Cause.MISSING_TABLES    the schema is not migrated: hold the work until it is, never blame the data
    Cause.RECORD            the data written (out of range, too long, a constraint, a size limit):
                            the same records fail the same way again, set them aside
    Cause.UNKNOWN           neither (a statement the database does not understand, an internal error)

The cause is read from the driver's code (PostgreSQL's SQLSTATE, SQLite's error name), from
SQLite's message when there is no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["Blame", "Cause", "DatabaseFault", "blame", "classify"]


class Blame(StrEnum):
    """What a database error with a code (or a message) is caused by."""

    INFRASTRUCTURE = "infrastructure"
    """The database or the way to it: retrying the same operation later may succeed."""
    RECORD = "record"
    """The data written: the same records are refused again."""
    UNKNOWN = "unknown"
    """Neither is known (a statement the database does not understand, an internal error)."""


class Cause(StrEnum):
    """What caused an exception raised while using a database (see the module docstring)."""

    INFRASTRUCTURE = "infrastructure"
    MISSING_TABLES = "missing tables"
    RECORD = "record"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DatabaseFault:
    """An exception's cause, the database's own words (``reason``) and its code, if it gave one."""

    cause: Cause
    reason: str
    code: str | None = None


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
_UNDEFINED_TABLE = "42P01"

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


def classify(exc: BaseException) -> DatabaseFault:
    """The cause of ``exc``, an exception raised while using a database through SQLAlchemy."""
    if isinstance(exc, PoolTimeout | OSError | TimeoutError):
        return DatabaseFault(Cause.INFRASTRUCTURE, str(exc))
    if isinstance(exc, OverflowError):  # the driver's own check: sqlite3 binds no integer past 64 bits
        return DatabaseFault(Cause.RECORD, f"the database cannot hold a value: {exc}")
    if not isinstance(exc, DBAPIError):
        return DatabaseFault(Cause.UNKNOWN, str(exc))
    reason = str(exc.orig) if exc.orig is not None else str(exc)
    code = _error_code(exc)
    if code == _UNDEFINED_TABLE or "no such table" in reason or (code is None and "does not exist" in reason):
        return DatabaseFault(Cause.MISSING_TABLES, reason, code)
    found = Blame.INFRASTRUCTURE if exc.connection_invalidated else blame(code, reason)
    if found is Blame.UNKNOWN and code is None and isinstance(exc, OperationalError | InterfaceError):
        found = Blame.INFRASTRUCTURE  # asyncpg's "connection is closed" and the like carry no SQLSTATE
    return DatabaseFault(Cause(found.value), reason, code)


def _error_code(exc: DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE (asyncpg's, which SQLAlchemy's adapter carries too) or SQLite's error name, if any."""
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        for attribute in ("sqlstate", "sqlite_errorname"):
            code = getattr(error, attribute, None)
            if isinstance(code, str) and code:
                return code
    return None
