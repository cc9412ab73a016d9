"""Private places for one benchmark run, removed afterwards: a RabbitMQ virtual host and a PostgreSQL schema.

A benchmark that stores a million events or floods ``candystore.events`` must not
touch what already lives on the broker or in the database it is pointed at.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import aio_pika
import aiormq.exceptions
import asyncpg
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from yarl import URL

__all__ = [
    "DEFAULT_BROKER_URL",
    "DEFAULT_DATABASE_URL",
    "BenchSchema",
    "Vhost",
    "bench_schema",
    "bench_vhost",
    "check_broker",
    "percentile",
]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- RabbitMQ ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vhost:
    """Where a run's AMQP traffic goes; ``isolated`` is False when it shares the configured virtual host."""

    url: str
    isolated: bool
    reason: str = ""


def _rabbitmqctl(*args: str) -> str | None:
    """Run rabbitmqctl; the error text when it is missing or fails, None on success."""
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        return "rabbitmqctl is not installed"
    try:
        result = subprocess.run([tool, "-q", *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"rabbitmqctl {args[0]} failed: {exc}"
    if result.returncode != 0:
        return f"rabbitmqctl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}"
    return None


def _safe(url: str) -> str:
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


async def check_broker(url: str, *, timeout: float = 10.0) -> None:
    """SystemExit saying what to set unless RabbitMQ at ``url`` accepts a connection."""
    try:
        connection = await aio_pika.connect(url, timeout=timeout)
    except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
        raise SystemExit(
            f"cannot reach RabbitMQ at {_safe(url)}: {exc or type(exc).__name__}; "
            "start it or set BLOODBANK_BROKER_URL=amqp://user:password@host:5672/"
        ) from exc
    await connection.close()


@contextmanager
def bench_vhost(url: str) -> Iterator[Vhost]:
    """A fresh virtual host on the broker at ``url``, deleted with everything in it afterwards.

    ``rabbitmqctl`` manages the broker on this machine only: for a remote broker, or when
    the tool is missing or refused, the run uses ``url`` as it is (``isolated`` is False).
    """
    parsed = URL(url)
    if parsed.host not in _LOCAL_HOSTS:
        yield Vhost(url, isolated=False, reason=f"the broker at {parsed.host} is not on this machine")
        return
    name = unique_name("bench")
    if (error := _rabbitmqctl("add_vhost", name)) is not None:
        yield Vhost(url, isolated=False, reason=error)
        return
    try:
        user = parsed.user or "guest"
        if (error := _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")) is not None:
            raise RuntimeError(f"cannot let {user!r} use the benchmark's virtual host {name!r}: {error}")
        yield Vhost(str(parsed.with_path("/" + name, encoded=False)), isolated=True)
    finally:
        _rabbitmqctl("delete_vhost", name)


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSchema:
    """A schema of its own in the configured PostgreSQL database, and how to connect to it."""

    name: str
    sqlalchemy_url: str
    dsn: str
    """The same database as a plain ``postgresql://`` DSN, for asyncpg."""

    @property
    def server_settings(self) -> dict[str, str]:
        return {"search_path": self.name}

    @property
    def connect_args(self) -> dict[str, dict[str, str]]:
        """What the store's engine needs to work inside this schema."""
        return {"server_settings": self.server_settings}


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The ``postgresql://`` DSN of a ``postgresql+asyncpg://`` URL; SystemExit saying what is expected otherwise."""
    try:
        parsed = make_url(sqlalchemy_url)
    except ArgumentError as exc:
        raise SystemExit(f"CANDYSTORE_DATABASE_URL is not a database URL: {exc}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(
            f"this benchmark measures the store on PostgreSQL, but CANDYSTORE_DATABASE_URL points at "
            f"{parsed.get_backend_name()}: set it to postgresql+asyncpg://user@host:5432/database"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def bench_schema(sqlalchemy_url: str) -> AsyncIterator[BenchSchema]:
    """A fresh, empty schema, dropped with everything in it afterwards."""
    dsn = asyncpg_dsn(sqlalchemy_url)
    name = unique_name("bench")
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        raise SystemExit(
            f"cannot reach PostgreSQL at {make_url(sqlalchemy_url).render_as_string(hide_password=True)}: "
            f"{exc or type(exc).__name__}; start it or set CANDYSTORE_DATABASE_URL=postgresql+asyncpg://user@host/db"
        ) from exc
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield BenchSchema(name, sqlalchemy_url, dsn)
        finally:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()
