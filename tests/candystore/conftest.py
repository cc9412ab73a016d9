"""Databases for the Candystore tests: SQLite (a temporary file) and PostgreSQL (a private schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from candystore.store import EventStore
from candystore.store.migrate import upgrade


@dataclass(frozen=True)
class Database:
    """Where a test's database is, and how to connect to it."""

    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def store(self) -> EventStore:
        return EventStore.open(self.url, connect_args=self.connect_args)


@pytest.fixture
def sqlite_database(tmp_path) -> Database:
    return Database(f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}")


@pytest.fixture
def postgres_database(postgres_schema) -> Database:
    return Database(postgres_schema.sqlalchemy_url, {"server_settings": postgres_schema.server_settings})


@pytest.fixture(params=["sqlite_database", pytest.param("postgres_database", marks=pytest.mark.postgres)])
def database(request) -> Database:
    """An empty database, once per backend (chosen here, outside the event loop, so async fixtures can run)."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
async def store(database):
    """A migrated, empty store on each backend."""
    event_store = database.store()
    await upgrade(event_store.engine)
    yield event_store
    await event_store.close()
