"""The async engine of the store: asyncpg on PostgreSQL, aiosqlite on SQLite (a file under ``./.33god/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_autocommit_engine", "create_engine"]


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def create_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine:
    """An engine for ``url``; for a SQLite file, its folder is created and WAL mode switched on."""
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
