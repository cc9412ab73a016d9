"""How the store writes event batches and reads on PostgreSQL: one statement each, outside a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from candystore.store import DatabaseUnavailable, EventStore, Outcome, create_autocommit_engine
from candystore.store.migrate import upgrade
from tests.candystore.test_store_contract import envelope

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(postgres_schema) -> AsyncIterator[EventStore]:
    settings = {**postgres_schema.server_settings, "application_name": postgres_schema.name}
    event_store = EventStore.open(postgres_schema.sqlalchemy_url, connect_args={"server_settings": settings})
    await upgrade(event_store.engine)
    yield event_store
    await event_store.close()


def test_only_postgresql_gets_an_autocommit_engine(tmp_path):
    assert create_autocommit_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}") is None


async def test_a_batch_of_new_events_and_their_links_is_one_statement(store):
    assert store.autocommit_engine is not None
    statements: list[tuple[str, bool]] = []  # each statement, and whether a transaction was open after it

    @event.listens_for(store.autocommit_engine.sync_engine, "after_cursor_execute")
    def _note(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append((statement, connection.connection.driver_connection.is_in_transaction()))

    parent = envelope()
    children = [envelope(parents=[parent["event_id"]]) for _ in range(3)]
    results = await store.store_batch([parent, *children])

    assert [result.outcome for result in results] == [Outcome.STORED] * 4
    assert len(statements) == 1
    assert statements[0][0].startswith("WITH inserted AS (INSERT INTO events")
    assert not statements[0][1]  # committed by the statement itself: no BEGIN or COMMIT round trips
    trace = await store.trace(parent["event_id"])
    assert trace is not None
    assert {node.event_id for node in trace.nodes} == {parent["event_id"], *(c["event_id"] for c in children)}


async def _cut_connections(postgres_schema) -> None:
    admin = await asyncpg.connect(postgres_schema.dsn, timeout=10)
    try:
        cut = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1) AS terminated",
            postgres_schema.name,
        )
    finally:
        await admin.close()
    assert cut >= 1


async def test_a_cut_connection_fails_one_write_and_the_next_one_reconnects(store, postgres_schema):
    assert [r.outcome for r in await store.store_batch([envelope()])] == [Outcome.STORED]
    await _cut_connections(postgres_schema)

    lost = envelope()
    with pytest.raises(DatabaseUnavailable):
        await store.store_batch([lost])  # the pooled connection was cut: the batcher holds the batch
    again = await store.store_batch([lost, envelope()])
    assert [r.outcome for r in again] == [Outcome.STORED, Outcome.STORED]


async def test_reads_are_made_outside_a_transaction_and_survive_a_cut_connection(store, postgres_schema):
    """A read costs one statement, no BEGIN or COMMIT; after a restart it is made again on a fresh connection."""
    assert store.autocommit_engine is not None
    stored = envelope()
    await store.store_batch([stored])
    statements: list[bool] = []

    @event.listens_for(store.autocommit_engine.sync_engine, "after_cursor_execute")
    def _note(connection: Any, *_: Any) -> None:
        statements.append(connection.connection.driver_connection.is_in_transaction())

    await _cut_connections(postgres_schema)
    assert await store.get(stored["event_id"]) == stored  # no error: the dead connection was replaced
    assert [e["event_id"] for e in (await store.query()).items] == [stored["event_id"]]
    await store.ping()
    assert statements
    assert not any(statements)
