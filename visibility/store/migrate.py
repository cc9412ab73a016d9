"""Applying the Alembic migrations in ``visibility/migrations`` (configured in code, no alembic.ini)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from visibility.store.engine import create_engine

__all__ = ["VERSION_TABLE", "current_revision", "downgrade", "upgrade"]

VERSION_TABLE = "visibility_alembic_version"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "visibility:migrations")
    config.attributes["connection"] = connection  # env.py runs on this connection, inside its transaction
    return config


async def _run(target: str | AsyncEngine, action: str, revision: str) -> None:
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: getattr(command, action)(_config(sync), revision))
    finally:
        if engine is not target:
            await engine.dispose()


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate the visibility tables at ``target`` (a URL or an engine) up to ``revision``, in one transaction."""
    await _run(target, "upgrade", revision)


async def downgrade(target: str | AsyncEngine, revision: str) -> None:
    """Migrate the visibility tables at ``target`` down to ``revision``, in one transaction."""
    await _run(target, "downgrade", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the visibility tables are at, or None before the first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync, opts={"version_table": VERSION_TABLE}).get_current_revision()
        )
