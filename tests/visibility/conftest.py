"""Databases for the visibility tests: SQLite (a temporary file) and PostgreSQL (a private schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from visibility.store import VisibilityStore


@dataclass(frozen=True)
class Database:
    """Where a test's database is, and how to connect to it."""

    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None

    def store(self) -> VisibilityStore:
        return VisibilityStore.open(self.url, connect_args=self.connect_args)

    def settings(self) -> dict[str, Any]:
        """The VisibilitySettings fields that point at this database."""
        return {"database_url": self.url, "database_schema": self.schema}


@pytest.fixture
def sqlite_database(tmp_path) -> Database:
    return Database(f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}")


@pytest.fixture
def postgres_database(postgres_schema) -> Database:
    return Database(
        postgres_schema.sqlalchemy_url,
        {"server_settings": postgres_schema.server_settings},
        schema=postgres_schema.name,
    )


@pytest.fixture(params=["sqlite_database", pytest.param("postgres_database", marks=pytest.mark.postgres)])
def database(request) -> Database:
    """An empty database, once per backend (chosen here, outside the event loop, so async fixtures can run)."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
async def store(database):
    """A migrated, empty store on each backend."""
    opened = database.store()
    await opened.migrate()
    yield opened
    await opened.close()
