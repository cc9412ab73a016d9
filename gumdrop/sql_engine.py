"""The async SQL engine of every store: asyncpg on PostgreSQL, aiosqlite on SQLite (a file under ``./.33god/``).

On SQLite each connection gets the same pragmas (WAL, a busy timeout, foreign keys) and
the SQL functions its store registers; on PostgreSQL connections are pinged before use
(a SQLite file needs no ping).
TLS to PostgreSQL comes from the URL (``?ssl=verify-full``, or libpq's ``sslmode``, which
asyncpg is given as ``ssl``) and from an SSL context in ``connect_args``
(:mod:`gumdrop.database_tls`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gumdrop.database_tls import driver_url

__all__ = ["SqliteFunction", "create_autocommit_engine", "create_engine", "is_postgres"]

_SQLITE_PRAGMAS = (
    # WAL lets readers run beside the writer (Candystore and visibility share the file by default);
    # busy_timeout waits for a lock instead of failing; foreign keys are off by default in SQLite.
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


@dataclass(frozen=True, slots=True)
class SqliteFunction:
    """A deterministic SQL function registered on every SQLite connection (PostgreSQL has its own SQL)."""

    name: str
    arity: int
    function: Callable[..., Any]


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def create_engine(
    url: str, *, connect_args: Mapping[str, Any] | None = None, sqlite_functions: Sequence[SqliteFunction] = ()
) -> AsyncEngine:
    """An engine for ``url``; on SQLite, the file's folder is created and every connection configured."""
    parsed = driver_url(make_url(url))
    sqlite = parsed.get_backend_name() == "sqlite"
    engine = create_async_engine(
        # A file does not go away between two uses of a connection: a ping would only cost round trips.
        parsed,
        connect_args=dict(connect_args or {}),
        json_serializer=_json_text,
        pool_pre_ping=not sqlite,
    )
    if sqlite:
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()
            for function in sqlite_functions:
                dbapi_connection.create_function(function.name, function.arity, function.function, deterministic=True)

    return engine


def create_autocommit_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine | None:
    """An engine whose statements each commit by themselves, on PostgreSQL; None elsewhere.

    It serves what needs no transaction of its own: a batch written in one statement, which is
    atomic on its own, and reads, which at READ COMMITTED see one snapshot per statement inside
    a transaction or not. Each costs one round trip, where a pinged connection in a transaction
    costs six (the ping's BEGIN, ping and ROLLBACK, then BEGIN, the statement, COMMIT), each a
    wait on a busy machine. No ping: a connection gone stale makes its statement fail, which
    empties the pool of the other stale connections; the caller tries again.
    """
    parsed = driver_url(make_url(url))
    if parsed.get_backend_name() != "postgresql":
        return None
    return create_async_engine(
        parsed, connect_args=dict(connect_args or {}), json_serializer=_json_text, isolation_level="AUTOCOMMIT"
    )
