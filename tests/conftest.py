"""Fixtures shared by every test: isolated resources on the real local services.

A test that needs a service says so with a marker (``rabbitmq``, ``postgres``,
``redis``, ``browser``, ``prometheus``). When the service does not answer, the test is skipped
with the reason, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest

pytest_plugins = ["tests.tracing"]  # the recorded_spans fixture

RABBITMQ_HOST, RABBITMQ_PORT = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1"), 5672
POSTGRES_HOST, POSTGRES_PORT = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1"), 5432
REDIS_HOST, REDIS_PORT = os.environ.get("TEST_REDIS_HOST", "127.0.0.1"), 6379
CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")

_SERVICES = {
    "rabbitmq": (RABBITMQ_HOST, RABBITMQ_PORT),
    "postgres": (POSTGRES_HOST, POSTGRES_PORT),
    "redis": (REDIS_HOST, REDIS_PORT),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the current test because a service is missing; in CI, fail it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest) -> None:
    for marker, (host, port) in _SERVICES.items():
        if request.node.get_closest_marker(marker) and not port_answers(host, port):
            unavailable(f"{marker} is not reachable on {host}:{port}")
    if request.node.get_closest_marker("browser") and not os.access(CHROMIUM, os.X_OK):
        unavailable(f"headless Chromium is not installed at {CHROMIUM}")
    if request.node.get_closest_marker("prometheus") and shutil.which("prometheus") is None:
        unavailable("the Prometheus server is not installed (Debian's prometheus package)")


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- RabbitMQ: a private virtual host per test --------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        unavailable("rabbitmqctl is not installed: test virtual hosts cannot be created")
        return
    result = subprocess.run([tool, "-q", *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        unavailable(f"rabbitmqctl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL of a fresh virtual host, deleted with everything in it after the test."""
    vhost = unique_name("test")
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


# --- PostgreSQL: a private schema per test ------------------------------------------------


@dataclass(frozen=True)
class PostgresSchema:
    """A schema of its own in the local PostgreSQL, and how to connect to it."""

    name: str
    dsn: str

    @property
    def sqlalchemy_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    @property
    def server_settings(self) -> dict[str, str]:
        return {"search_path": self.name}


@pytest.fixture
async def postgres_schema() -> AsyncIterator[PostgresSchema]:
    """A fresh schema, dropped with everything in it after the test."""
    import asyncpg  # noqa: PLC0415 - only the tests that use PostgreSQL need it

    dsn = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/postgres"
    name = unique_name("test")
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
        yield PostgresSchema(name, dsn)
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await connection.close()


# --- Redis: a private key prefix per test -------------------------------------------------


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


@pytest.fixture
async def redis_namespace() -> AsyncIterator[RedisNamespace]:
    """A key prefix of its own; every key under it is deleted after the test."""

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    namespace = RedisNamespace(url, unique_name("test") + ":")
    yield namespace
    await purge_redis_prefix(url, namespace.prefix)


async def purge_redis_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many there were."""
    from redis.asyncio import Redis  # noqa: PLC0415 - only the tests that use Redis need it

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()
