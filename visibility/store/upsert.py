"""Insert-or-update on both databases (``ON CONFLICT … DO UPDATE``, which SQLite and PostgreSQL share)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["upsert"]


async def upsert(
    connection: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
) -> None:
    """Insert ``rows``; a row whose ``keys`` exist replaces the other columns (or adds to the ``add`` ones)."""
    if not rows:
        return
    make = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = make(table)
    columns = [name for name in rows[0] if name not in keys]
    replaced = {
        name: (table.c[name] + statement.excluded[name]) if name in add else statement.excluded[name]
        for name in columns
    }
    await connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=replaced), list(rows))
