"""The async engine of the store: asyncpg on PostgreSQL, aiosqlite on SQLite (a file under ``./.33god/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_batch_engine", "create_engine"]


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


def create_batch_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine | None:
    """An engine for writing event batches on PostgreSQL, each statement its own transaction; None elsewhere.

    On PostgreSQL a batch is one statement (events and causation links together), atomic on
    its own. Sent outside an explicit transaction, it costs one round trip, where a pinged
    connection in a transaction costs six (the ping's BEGIN, ping and ROLLBACK, then BEGIN,
    INSERT, COMMIT), each a wait on a busy machine. No ping: a connection gone stale makes
    the write fail, the batcher holds the batch and writes it again, and the failure has
    already emptied the pool of the other stale connections.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return create_async_engine(
        parsed, connect_args=dict(connect_args or {}), json_serializer=_json_text, isolation_level="AUTOCOMMIT"
    )
