"""Migrations: a fresh database and a legacy one both reach head, the legacy rows converted without loss."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from candystore.store.migrate import current_revision, downgrade, upgrade
from candystore.store.schema import exists_on, metadata
from tests.conftest import PostgresSchema

ROOT_ID = "0190a0a0-0000-7000-8000-00000000000a"
CHILD_ID = "0190a0a0-0000-7000-8000-00000000000b"


def _differences(sync_connection):
    dialect = sync_connection.dialect.name
    context = MigrationContext.configure(
        sync_connection, opts={"include_object": lambda item, *_: exists_on(item, dialect)}
    )
    return compare_metadata(context, metadata)


async def test_fresh_database_reaches_head_with_the_schema_of_the_metadata(database):
    """Upgrading an empty database reaches 0005 and yields exactly the tables and indexes of the metadata."""
    store = database.store()
    try:
        assert await current_revision(store.engine) is None
        await upgrade(store.engine)
        assert await current_revision(store.engine) == "0005"
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
        await downgrade(store.engine, "base")
        assert await current_revision(store.engine) is None
    finally:
        await store.close()


async def _create_legacy_table(store) -> None:
    postgres = store.engine.dialect.name == "postgresql"
    async with store.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TABLE events (id TEXT PRIMARY KEY, event_type TEXT NOT NULL, "
                f"timestamp {'TIMESTAMP' if postgres else 'TEXT'} NOT NULL, source TEXT, correlation_id TEXT, "
                f"payload {'JSON' if postgres else 'TEXT'}, created_by TEXT)"
            )
        )
        await connection.execute(text("CREATE INDEX ix_events_timestamp ON events (timestamp)"))
        rows = [
            (
                ROOT_ID,
                "2026-01-02 03:04:05.678901",
                "n8n",
                None,
                '{"big": 123456789012345678901234567890, "f": 0.1, "s": "héllo ✓", "n": null, "l": [1, {"a": []}]}',
                "ops",
            ),
            (CHILD_ID, "2026-01-02 03:04:06", "fireflies", ROOT_ID, '{"x": -1.5e-7}', None),
            ("legacy-42", "2026-01-02 03:04:07", "theboard", "", "{}", None),
            ("legacy-43", "2026-01-02 03:04:08", "theboard", "legacy-42", '{"k": true}', None),
        ]
        for event_id, moment, source, parent, payload, created_by in rows:
            await connection.execute(
                text(
                    "INSERT INTO events VALUES (:id, :type, "  # noqa: S608 - fixed SQL, values bound
                    f"{'CAST(CAST(:ts AS TEXT) AS TIMESTAMP)' if postgres else ':ts'}, :source, :parent, "
                    f"{'CAST(CAST(:payload AS TEXT) AS JSON)' if postgres else ':payload'}, :created_by)"
                ),
                {
                    "id": event_id,
                    "type": "legacy.thing.happened.v1",
                    "ts": moment,
                    "source": source,
                    "parent": parent,
                    "payload": payload,
                    "created_by": created_by,
                },
            )


def _expected(event_id: str, timestamp: str, app: str, parents: list[str], payload, meta=None) -> dict[str, object]:  # noqa: PLR0917
    return {
        "event_id": event_id,
        "event_type": "legacy.thing.happened.v1",
        "timestamp": timestamp,
        "version": "1.0.0",
        "source": {"host": "legacy", "type": "system", "app": app, "meta": {"legacy_source": app, **(meta or {})}},
        "correlation_ids": parents,
        "payload": payload,
    }


async def test_legacy_database_is_upgraded_without_losing_a_row_or_a_value(database):
    """Every legacy row becomes a canonical envelope with all its values, links filled, the old table kept."""
    store = database.store()
    try:
        await _create_legacy_table(store)
        await upgrade(store.engine)
        assert await current_revision(store.engine) == "0005"
        mapped_42 = str(uuid.uuid5(uuid.UUID("5f1d7f1e-33a0-4c5e-9a53-6c4e6f6c65a1"), "legacy-42"))
        mapped_43 = str(uuid.uuid5(uuid.UUID("5f1d7f1e-33a0-4c5e-9a53-6c4e6f6c65a1"), "legacy-43"))
        root = await store.get(ROOT_ID)
        assert root == _expected(
            ROOT_ID,
            "2026-01-02T03:04:05.678901Z",
            "n8n",
            [],
            {"big": 123456789012345678901234567890, "f": 0.1, "s": "héllo ✓", "n": None, "l": [1, {"a": []}]},
            {"legacy_fields": {"created_by": "ops"}},
        )
        assert await store.get(CHILD_ID) == _expected(
            CHILD_ID,
            "2026-01-02T03:04:06Z",
            "fireflies",
            [ROOT_ID],
            {"x": -1.5e-7},
            {"legacy_fields": {"created_by": None}},
        )
        assert await store.get(mapped_42) == _expected(
            mapped_42,
            "2026-01-02T03:04:07Z",
            "theboard",
            [],
            {},
            {"legacy_fields": {"created_by": None}, "legacy_id": "legacy-42"},
        )
        assert await store.get(mapped_43) == _expected(
            mapped_43,
            "2026-01-02T03:04:08Z",
            "theboard",
            [mapped_42],
            {"k": True},
            {"legacy_fields": {"created_by": None}, "legacy_id": "legacy-43", "legacy_correlation_id": "legacy-42"},
        )
        assert len((await store.query(limit=100)).items) == 4
        trace = await store.trace(ROOT_ID)
        assert trace.descendants == [CHILD_ID]
        assert (await store.trace(mapped_42)).descendants == [mapped_43]
        async with store.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM legacy_events"))).scalar_one() == 4
        with pytest.raises(RuntimeError, match="restore the backup taken before upgrading"):
            await downgrade(store.engine, "0001")
        assert await current_revision(store.engine) == "0005"
    finally:
        await store.close()


async def test_foreign_events_table_is_refused(database):
    """An `events` table of neither known shape stops the migration with a message saying what to do."""
    store = database.store()
    try:
        async with store.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE events (something TEXT)"))
        with pytest.raises(RuntimeError, match="move it aside before migrating"):
            await upgrade(store.engine)
        assert await current_revision(store.engine) is None
    finally:
        await store.close()


async def _waiting_on_a_lock(connection: Any) -> int:
    query = """SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
               AND (query LIKE '%alembic_version%' OR query LIKE '%pg_advisory_xact_lock%')"""
    return int(await connection.fetchval(query))


@pytest.mark.postgres
async def test_three_migrations_started_at_once_all_succeed_and_apply_once(postgres_schema: PostgresSchema) -> None:
    """Replicas starting together: three ``candystore migrate`` on a fresh schema take turns under one lock.

    The test holds the version table's name in an open transaction until all three wait on a lock,
    so they race for the first migration at the same moment whatever their start-up times.
    """
    import asyncpg  # noqa: PLC0415 - only the tests that use PostgreSQL need it

    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("CANDYSTORE_", "BLOODBANK_"))},
        "CANDYSTORE_DATABASE_URL": postgres_schema.sqlalchemy_url,
        "CANDYSTORE_DATABASE_SCHEMA": postgres_schema.name,
    }
    command = str(Path(sys.executable).parent / "candystore")
    gate = await asyncpg.connect(postgres_schema.dsn, timeout=10)
    watcher = await asyncpg.connect(
        postgres_schema.dsn, timeout=10
    )  # outside the gate: a transaction sees one snapshot
    try:
        gate_transaction = gate.transaction()
        await gate_transaction.start()
        await gate.execute(f'CREATE TABLE "{postgres_schema.name}".alembic_version (held integer)')
        pipe = asyncio.subprocess.PIPE
        processes = [
            await asyncio.create_subprocess_exec(command, "migrate", env=environment, stdout=pipe, stderr=pipe)
            for _ in range(3)
        ]
        outputs = asyncio.gather(*(process.communicate() for process in processes))
        for _ in range(600):
            if await _waiting_on_a_lock(watcher) >= len(processes) or any(p.returncode is not None for p in processes):
                break
            await asyncio.sleep(0.1)
        await gate_transaction.rollback()
        results = await outputs
        versions = await gate.fetch(f'SELECT version_num FROM "{postgres_schema.name}".alembic_version')  # noqa: S608
    finally:
        await gate.close()
        await watcher.close()
    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()
        assert stdout.decode().strip().endswith("is at revision 0005"), stdout.decode()
    assert [row["version_num"] for row in versions] == ["0005"]
