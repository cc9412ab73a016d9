"""The async engine of the store: asyncpg on PostgreSQL, aiosqlite on SQLite (a file under ``./.33god/``).

SQLite connections get the function :data:`EVENT_TYPE_MATCHES` (``event_type_matches(pattern,
event_type)``): event-type patterns are matched by :mod:`holyfields.wildcards` there, where
PostgreSQL uses the pattern's regular expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from holyfields.wildcards import TypePattern

__all__ = ["EVENT_TYPE_MATCHES", "create_autocommit_engine", "create_engine"]

EVENT_TYPE_MATCHES = "event_type_matches"
"""The SQLite function telling whether an event type matches a pattern (NULL when either is NULL)."""


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _event_type_matches(pattern: str | None, event_type: str | None) -> bool | None:
    if pattern is None or event_type is None:
        return None
    return TypePattern.parse(pattern).matches(event_type)


def create_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine:
    """An engine for ``url``; on SQLite, the file's folder is created, WAL mode switched on, patterns matched."""
    parsed = make_url(url)
    engine = create_async_engine(
        parsed, connect_args=dict(connect_args or {}), json_serializer=_json_text, pool_pre_ping=True
    )
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers run beside the writer; busy_timeout waits for a lock instead of failing.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            dbapi_connection.create_function(EVENT_TYPE_MATCHES, 2, _event_type_matches, deterministic=True)

    return engine


def create_autocommit_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine | None:
    """An engine whose statements each commit by themselves, on PostgreSQL; None elsewhere.

    It serves what needs no transaction of its own: a batch of events, which is one
    statement (events and causation links together) and so atomic on its own, and reads,
    which at READ COMMITTED see one snapshot per statement inside a transaction or not.
    Each costs one round trip, where a pinged connection in a transaction costs six (the
    ping's BEGIN, ping and ROLLBACK, then BEGIN, the statement, COMMIT), each a wait on a
    busy machine. No ping: a connection gone stale makes its statement fail, which empties
    the pool of the other stale connections; the store reads again once, the batcher
    writes the batch again.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return create_async_engine(
        parsed, connect_args=dict(connect_args or {}), json_serializer=_json_text, isolation_level="AUTOCOMMIT"
    )
