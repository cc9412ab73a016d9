"""Applying a component's Alembic migrations, configured in code (no alembic.ini), once however many start.

Each component keeps its migration scripts and ``env.py`` (they know its tables); this runs
them. On PostgreSQL the whole run holds a transaction-scoped advisory lock named after the
version table: replicas started together (a rolling deploy, three ``candystore migrate`` at
once) migrate one after the other, and those that come after the first find the database at
head and do nothing. The migration and the version stamp commit together, or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gumdrop.sql_engine import create_engine
from gumdrop.store_errors import StoreError

__all__ = ["MigrationFailed", "Migrations", "advisory_lock_key"]


class MigrationFailed(StoreError):
    """Alembic refused the migration (an unknown revision, a broken script); ``str()`` says why."""


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (Python's ``hash`` changes per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass(frozen=True, slots=True)
class Migrations:
    """The migrations at ``script_location`` (``package:folder``), versioned in ``version_table``.

    ``translate`` turns a database's exceptions into the component's store errors, so that an
    unreachable database reads the same from a migration as from any other statement.
    """

    script_location: str
    translate: Callable[[BaseException], StoreError]
    version_table: str = "alembic_version"

    async def upgrade(self, target: str | AsyncEngine, revision: str = "head") -> None:
        """Migrate the database at ``target`` (a URL or an engine) up to ``revision``, in one transaction."""
        await self._run(target, command.upgrade, revision)

    async def downgrade(self, target: str | AsyncEngine, revision: str) -> None:
        """Migrate the database at ``target`` down to ``revision``, in one transaction."""
        await self._run(target, command.downgrade, revision)

    async def current_revision(self, engine: AsyncEngine) -> str | None:
        """The revision the database is at, or None before the first migration."""
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(self._current_revision)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self.translate(exc) from exc

    def _current_revision(self, connection: Connection) -> str | None:
        context = MigrationContext.configure(connection, opts={"version_table": self.version_table})
        return context.get_current_revision()

    async def _run(self, target: str | AsyncEngine, action: Callable[[Config, str], None], revision: str) -> None:
        engine = target if isinstance(target, AsyncEngine) else create_engine(target)
        try:
            async with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Released at commit or rollback: a migrator that dies frees it with its connection.
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    await connection.execute(lock, {"key": advisory_lock_key(self.version_table)})
                await connection.run_sync(lambda sync: action(self._config(sync), revision))
        except CommandError as exc:
            raise MigrationFailed(f"migration failed: {exc}") from exc
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise self.translate(exc) from exc
        finally:
            if engine is not target:
                await engine.dispose()

    def _config(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["connection"] = connection  # env.py runs on this connection, inside its transaction
        config.attributes["version_table"] = self.version_table
        return config
