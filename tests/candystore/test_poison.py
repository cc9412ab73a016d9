"""The store classifies what the database refuses: the infrastructure, or the data of a record."""

from __future__ import annotations

import asyncio
import secrets
import string
import uuid

import pytest
from sqlalchemy import insert, text

from candystore.store import DatabaseUnavailable, DeadLetter, EventStore, Outcome, RecordRejected, StoreError
from candystore.store.migrate import upgrade
from candystore.store.schema import causation
from gumdrop.database_errors import Blame, blame

from .conftest import Database
from .test_store_contract import envelope


class RawStore(EventStore):
    """The store, running statements of the test's own through its translation of errors."""

    async def execute(self, sql: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(text(sql))

    async def insert_null_parent(self) -> None:
        async with self._transaction() as connection:
            await connection.execute(insert(causation).values(parent_id=None, child_id=uuid.uuid4()))


@pytest.fixture
async def raw(database: Database):
    opened = RawStore.open(database.url, connect_args=database.connect_args)
    await upgrade(opened.engine)
    yield opened
    await opened.close()


@pytest.fixture
async def raw_postgres(postgres_database: Database):
    opened = RawStore.open(postgres_database.url, connect_args=postgres_database.connect_args)
    await upgrade(opened.engine)
    yield opened
    await opened.close()


def _raise(sqlstate: str) -> str:
    """A statement on which PostgreSQL itself raises an error with ``sqlstate``."""
    return f"DO $$ BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '{sqlstate}'; END $$"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sqlstate",
    ["08006", "53100", "53200", "53300", "40001", "40P01", "25006", "57P01", "57P02", "57P03", "57014", "58030"],
)
async def test_postgresql_infrastructure_errors_are_database_unavailable(raw_postgres, sqlstate):
    """Connection loss, disk full, serialization failure, read-only, shutdown, timeout…: DatabaseUnavailable."""
    with pytest.raises(DatabaseUnavailable, match="raised by the test"):
        await raw_postgres.execute(_raise(sqlstate))


@pytest.mark.postgres
@pytest.mark.parametrize("sqlstate", ["22008", "22001", "22003", "22P05", "22021", "23505", "23502", "54000"])
async def test_postgresql_data_errors_are_record_rejected_with_their_sqlstate(raw_postgres, sqlstate):
    """Data exceptions, integrity violations and program limits are blamed on the record, with the SQLSTATE."""
    with pytest.raises(RecordRejected) as caught:
        await raw_postgres.execute(_raise(sqlstate))
    assert caught.value.code == sqlstate
    assert str(caught.value) == f"the database refused the data ({sqlstate}): raised by the test"


@pytest.mark.postgres
async def test_other_postgresql_errors_are_neither(raw_postgres):
    """An internal error is a plain StoreError: neither held as an outage nor blamed on the data."""
    with pytest.raises(StoreError) as caught:
        await raw_postgres.execute(_raise("XX000"))
    assert type(caught.value) is StoreError


@pytest.mark.postgres
async def test_a_real_datetime_overflow_is_a_record_error(raw_postgres):
    """PostgreSQL's own "timestamp out of range" (22008) is RecordRejected."""
    with pytest.raises(RecordRejected, match=r"\(22008\): timestamp out of range") as caught:
        await raw_postgres.execute("SELECT make_timestamp(300000, 1, 1, 0, 0, 0)")
    assert caught.value.code == "22008"


@pytest.mark.postgres
async def test_an_index_row_too_big_refuses_the_batch_as_a_record_error(raw_postgres):
    """A batch holding an event type too long for an index row fails as RecordRejected (54000), not an outage."""
    huge = "retail." + "".join(secrets.choice(string.ascii_lowercase) for _ in range(9000)) + ".v1"  # incompressible
    with pytest.raises(RecordRejected) as caught:
        await raw_postgres.store_batch([envelope(), envelope(event_type=huge)])
    assert caught.value.code == "54000"


@pytest.mark.postgres
async def test_a_connection_closed_under_a_statement_is_database_unavailable(raw_postgres):
    """The backend terminated in the middle of a statement: DatabaseUnavailable, so the batch is held."""

    async def terminate(pid: int) -> None:
        await asyncio.sleep(0.2)
        async with raw_postgres.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    async def sleep_until_terminated() -> None:
        async with raw_postgres._transaction() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            killer = asyncio.create_task(terminate(pid))
            try:
                await connection.execute(text("SELECT pg_sleep(30)"))
            finally:
                await killer

    with pytest.raises(DatabaseUnavailable, match="the database is unavailable"):
        await sleep_until_terminated()


async def test_a_constraint_violation_is_a_record_error(raw):
    """A NOT NULL violation, refused by SQLite or PostgreSQL, is RecordRejected with the database's code."""
    with pytest.raises(RecordRejected, match="parent_id") as caught:
        await raw.insert_null_parent()
    assert caught.value.code in {"23502", "SQLITE_CONSTRAINT_NOTNULL"}


async def test_an_integer_past_the_column_range_is_a_record_error(raw):
    """An integer no column of the database holds (past 64 bits) is RecordRejected on each backend."""
    with pytest.raises(RecordRejected):
        await raw.keep_dead_letters([DeadLetter(b"{}", "dlq.x", {}, attempts=10**20)])


async def test_missing_tables_hold_as_unavailable_and_say_to_migrate(database):
    """A store whose tables are missing is unavailable until migrated: never an error blamed on the events."""
    unmigrated = database.store()
    try:
        with pytest.raises(DatabaseUnavailable, match="run `candystore migrate`"):
            await unmigrated.store_batch([envelope()])
    finally:
        await unmigrated.close()


async def test_a_timestamp_past_the_range_of_utc_is_one_invalid_result(store):
    """A timestamp whose conversion to UTC overflows makes its own envelope invalid; the batch is stored."""
    good, hostile = envelope(), envelope(at="0001-01-01T00:00:00+14:00")
    results = await store.store_batch([good, hostile])
    assert [result.outcome for result in results] == [Outcome.STORED, Outcome.INVALID]
    assert results[1].reason


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("SQLITE_BUSY", "database is locked", Blame.INFRASTRUCTURE),
        ("SQLITE_FULL", "database or disk is full", Blame.INFRASTRUCTURE),
        ("SQLITE_READONLY_DBMOVED", "attempt to write a readonly database", Blame.INFRASTRUCTURE),
        ("SQLITE_IOERR_WRITE", "disk I/O error", Blame.INFRASTRUCTURE),
        ("SQLITE_CONSTRAINT_UNIQUE", "UNIQUE constraint failed: t.x", Blame.RECORD),
        ("SQLITE_TOOBIG", "string or blob too big", Blame.RECORD),
        ("SQLITE_ERROR", "incomplete input", Blame.UNKNOWN),
        (None, "database is locked", Blame.INFRASTRUCTURE),
        (None, "attempt to write a readonly database", Blame.INFRASTRUCTURE),
        (None, "NOT NULL constraint failed: t.y", Blame.RECORD),
        (None, "something else", Blame.UNKNOWN),
    ],
)
def test_sqlite_errors_are_blamed_by_their_name_or_else_their_message(code, message, expected):
    """SQLite's busy, full, read-only and I/O errors are the infrastructure; constraints and sizes the record."""
    assert blame(code, message) is expected
