"""The service fixtures: each gives a test an isolated resource on the real service and cleans up."""

from __future__ import annotations

import aio_pika
import asyncpg
import pytest
from redis.asyncio import Redis

from tests.conftest import PostgresSchema, RedisNamespace, port_answers, purge_redis_prefix, unavailable, unique_name


def test_missing_service_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CI=true a missing service skips the test with its reason."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing on port"):
        unavailable("nothing on port 1")


def test_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CI=true a missing service fails the test instead of skipping it."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        unavailable("nothing on port 1")


def test_port_answers_is_false_for_a_closed_port() -> None:
    """A port nobody listens on is reported as not answering."""
    assert not port_answers("127.0.0.1", 1, timeout=0.2)


@pytest.mark.rabbitmq
async def test_rabbitmq_vhost_is_private(rabbitmq_url: str) -> None:
    """A queue declared in the test's virtual host does not exist in the default one."""
    queue_name = "isolation-check"
    connection = await aio_pika.connect_robust(rabbitmq_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, auto_delete=True)
        await channel.default_exchange.publish(aio_pika.Message(b"hello"), routing_key=queue_name)
        message = await queue.get(timeout=5)
        assert message is not None
        assert message.body == b"hello"
        await message.ack()
    default = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/", timeout=10)
    async with default:
        default_channel = await default.channel()
        with pytest.raises(aio_pika.exceptions.ChannelClosed):
            await default_channel.declare_queue(queue_name, passive=True)


@pytest.mark.postgres
async def test_postgres_schema_is_private(postgres_schema: PostgresSchema) -> None:
    """A table made in the test's schema is found there and not in public."""
    connection = await asyncpg.connect(postgres_schema.dsn, server_settings=postgres_schema.server_settings)
    try:
        await connection.execute("CREATE TABLE probe (id int primary key)")
        await connection.execute("INSERT INTO probe VALUES (1)")
        assert await connection.fetchval("SELECT count(*) FROM probe") == 1
        found = await connection.fetchval(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe' AND table_schema = $1",
            postgres_schema.name,
        )
        assert found == postgres_schema.name
    finally:
        await connection.close()


@pytest.mark.redis
async def test_redis_namespace_is_purged(redis_namespace: RedisNamespace) -> None:
    """Purging the test's prefix deletes its keys and leaves every other key alone."""
    client = Redis.from_url(redis_namespace.url)
    outside = unique_name("other") + ":kept"
    try:
        await client.set(redis_namespace.key("a"), "1")
        await client.set(redis_namespace.key("b"), "2")
        await client.set(outside, "3")
        assert await purge_redis_prefix(redis_namespace.url, redis_namespace.prefix) == 2
        assert await client.exists(redis_namespace.key("a"), redis_namespace.key("b")) == 0
        assert await client.get(outside) == b"3"
    finally:
        await client.delete(outside)
        await client.aclose()
