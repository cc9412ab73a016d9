"""Idempotency stores and correlation trackers: the local and the Redis ones behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bloodbank.correlation import CorrelationTracker, LocalCorrelationTracker, RedisCorrelationTracker
from bloodbank.idempotency import IdempotencyStore, LocalIdempotencyStore, RedisIdempotencyStore
from tests.conftest import RedisNamespace


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def redis_or_local(request: pytest.FixtureRequest) -> RedisNamespace | None:
    """The test's Redis namespace for the redis parameter, None for the local stores."""
    return request.getfixturevalue("redis_namespace") if request.param == "redis" else None


@pytest.fixture
async def idempotency(redis_or_local: RedisNamespace | None, tmp_path: Path) -> AsyncIterator[IdempotencyStore]:
    store: IdempotencyStore
    if redis_or_local is not None:
        namespace = redis_or_local
        store = RedisIdempotencyStore(Redis.from_url(namespace.url), ttl=60, prefix=namespace.prefix)
    else:
        store = LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=60)
    yield store
    await store.close()


@pytest.fixture
async def tracker(redis_or_local: RedisNamespace | None) -> AsyncIterator[CorrelationTracker]:
    store: CorrelationTracker
    if redis_or_local is not None:
        namespace = redis_or_local
        store = RedisCorrelationTracker(Redis.from_url(namespace.url), ttl=60, prefix=namespace.prefix)
    else:
        store = LocalCorrelationTracker(ttl=60)
    yield store
    await store.close()


async def test_idempotency_remembers_per_consumer(idempotency: IdempotencyStore) -> None:
    """An event handled by one consumer is seen for that consumer only."""
    assert not await idempotency.seen("a", "e1")
    await idempotency.remember("a", "e1")
    assert await idempotency.seen("a", "e1")
    assert not await idempotency.seen("b", "e1")


async def test_local_idempotency_survives_a_restart(tmp_path: Path) -> None:
    """The local store is a file: a new process sees what the previous one handled."""
    first = LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=60)
    await first.remember("c", "e1")
    await first.close()
    second = LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=60)
    assert await second.seen("c", "e1")
    await second.close()


async def test_tracker_answers_ancestors_and_descendants(tracker: CorrelationTracker) -> None:
    """A diamond (two parents, shared grandparent) is walked in both directions, nearest first, once each."""
    await tracker.record("root", [])
    await tracker.record("left", ["root"])
    await tracker.record("right", ["root"])
    await tracker.record("join", ["left", "right"])
    await tracker.record("leaf", ["join"])
    assert await tracker.ancestors("leaf") == ["join", "left", "right", "root"]
    assert await tracker.descendants("root") == ["left", "right", "join", "leaf"]
    assert await tracker.ancestors("leaf", depth=1) == ["join"]
    assert await tracker.ancestors("root") == []


async def test_tracker_records_a_batch_of_links_at_once(tracker: CorrelationTracker) -> None:
    """The links of a published batch, recorded together, are walked as if recorded one by one."""
    await tracker.record_many([("root", []), ("a", ["root"]), ("b", ["root", "a"])])
    await tracker.record_many([])
    assert await tracker.descendants("root") == ["a", "b"]
    assert await tracker.ancestors("b") == ["a", "root"]


async def test_tracker_is_cycle_safe(tracker: CorrelationTracker) -> None:
    """Links that form a cycle do not make the walk loop."""
    await tracker.record("a", ["b"])
    await tracker.record("b", ["a"])
    assert await tracker.ancestors("a") == ["b"]
    assert await tracker.descendants("a") == ["b"]


async def test_local_tracker_forgets_the_oldest_beyond_its_bound() -> None:
    """The in-memory tracker keeps at most its bound of events."""
    tracker = LocalCorrelationTracker(ttl=60, max_events=2)
    for child in ("c1", "c2", "c3"):
        await tracker.record(child, ["p"])
    assert await tracker.descendants("p") == ["c2", "c3"]
    assert await tracker.ancestors("c1") == []


@pytest.mark.redis
async def test_bus_keeps_idempotency_and_causation_in_redis_when_configured(
    redis_namespace: RedisNamespace, tmp_path: Path
) -> None:
    """With BLOODBANK_REDIS_URL a bus absorbs a duplicate through Redis and records causation there."""
    from bloodbank import BloodbankSettings, Bus, Event  # noqa: PLC0415
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415
    from holyfields import default_catalog  # noqa: PLC0415

    offer = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]
    settings = BloodbankSettings(data_dir=tmp_path, redis_url=redis_namespace.url, redis_prefix=redis_namespace.prefix)
    bus = await Bus.start(settings, transport=EmbeddedTransport(tmp_path / "bus.sqlite3"))
    seen: list[str] = []
    try:
        assert isinstance(bus.idempotency, RedisIdempotencyStore)

        async def handle(event: Event) -> None:
            seen.append(event.event_id)

        await bus.subscribe("redis.check", ["retail.#"], handle)
        event_id = await bus.publish("retail.offer.surfaced.v1", offer)
        await bus.publish("retail.offer.surfaced.v1", offer, event_id=event_id)
        for _ in range(200):
            if await bus.transport.queue_depth("redis.check") == 0 and seen:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert seen == [event_id]
        redis = Redis.from_url(redis_namespace.url)
        try:
            assert await redis.exists(redis_namespace.key(f"handled:redis.check:{event_id}")) == 1
        finally:
            await redis.aclose()
    finally:
        await bus.close()
