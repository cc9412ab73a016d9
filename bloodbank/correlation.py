"""The correlation tracker: parent and child links of recent events, to answer ancestors and descendants.

Redis (with a TTL, shared across processes) when configured, an in-memory store
with the same TTL otherwise. Walks are breadth-first, cycle-safe and bounded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["CorrelationTracker", "Link", "LocalCorrelationTracker", "RedisCorrelationTracker"]


Link = tuple[str, Sequence[str]]
"""An event's id and the ids of its parents."""


class CorrelationTracker(Protocol):
    async def record(self, event_id: str, parents: Sequence[str]) -> None:
        """Remember that ``event_id`` was caused by ``parents``."""
        ...

    async def record_many(self, links: Sequence[Link]) -> None:
        """Remember every link of a batch at once (one round trip for Redis)."""
        ...

    async def ancestors(self, event_id: str, *, depth: int = 10) -> list[str]:
        """Ids of the events that led to ``event_id``, nearest first, up to ``depth`` generations."""
        ...

    async def descendants(self, event_id: str, *, depth: int = 10) -> list[str]:
        """Ids of the events ``event_id`` led to, nearest first, up to ``depth`` generations."""
        ...

    async def close(self) -> None: ...


async def _walk(start: str, step: Callable[[str], Awaitable[set[str]]], depth: int) -> list[str]:
    seen = {start}
    found: list[str] = []
    frontier = [start]
    for _ in range(depth):
        following: list[str] = []
        for node in frontier:
            for neighbour in sorted(await step(node)):
                if neighbour not in seen:
                    seen.add(neighbour)
                    found.append(neighbour)
                    following.append(neighbour)
        if not following:
            break
        frontier = following
    return found


class LocalCorrelationTracker:
    """In memory, bounded to ``max_events`` events, links forgotten after ``ttl`` seconds."""

    def __init__(self, *, ttl: int, max_events: int = 200_000) -> None:
        self._ttl = ttl
        self._max = max_events
        self._parents: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()
        self._children: dict[str, set[str]] = {}

    async def record(self, event_id: str, parents: Sequence[str]) -> None:
        await self.record_many([(event_id, parents)])

    async def record_many(self, links: Sequence[Link]) -> None:
        expires = time.monotonic() + self._ttl
        for event_id, parents in links:
            self._parents[event_id] = (expires, set(parents))
            self._parents.move_to_end(event_id)
            for parent in parents:
                self._children.setdefault(parent, set()).add(event_id)
        while len(self._parents) > self._max:
            self._forget(next(iter(self._parents)))

    def _forget(self, event_id: str) -> None:
        _, parents = self._parents.pop(event_id)
        for parent in parents:
            children = self._children.get(parent)
            if children is not None:
                children.discard(event_id)
                if not children:
                    del self._children[parent]

    def _live_parents(self, event_id: str) -> set[str]:
        entry = self._parents.get(event_id)
        if entry is None:
            return set()
        if entry[0] < time.monotonic():
            self._forget(event_id)
            return set()
        return set(entry[1])

    async def ancestors(self, event_id: str, *, depth: int = 10) -> list[str]:
        async def parents(node: str) -> set[str]:
            return self._live_parents(node)

        return await _walk(event_id, parents, depth)

    async def descendants(self, event_id: str, *, depth: int = 10) -> list[str]:
        async def children(node: str) -> set[str]:
            return {child for child in self._children.get(node, set()) if self._live_parents(child)}

        return await _walk(event_id, children, depth)

    async def close(self) -> None:
        self._parents.clear()
        self._children.clear()


class RedisCorrelationTracker:
    """Two sets per event (parents, children), each expiring ``ttl`` seconds after the last write."""

    def __init__(self, redis: Redis, *, ttl: int, prefix: str = "bloodbank:corr:") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix

    async def record(self, event_id: str, parents: Sequence[str]) -> None:
        await self.record_many([(event_id, parents)])

    async def record_many(self, links: Sequence[Link]) -> None:
        if not links:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event_id, parents in links:
                if parents:
                    pipe.sadd(f"{self._prefix}p:{event_id}", *parents)
                else:
                    pipe.sadd(f"{self._prefix}p:{event_id}", "")  # a root: known, with no parent
                pipe.expire(f"{self._prefix}p:{event_id}", self._ttl)
                for parent in parents:
                    pipe.sadd(f"{self._prefix}c:{parent}", event_id)
                    pipe.expire(f"{self._prefix}c:{parent}", self._ttl)
            await pipe.execute()

    async def _members(self, key: str) -> set[str]:
        raw = await self._redis.smembers(key)
        return {m.decode() if isinstance(m, bytes) else str(m) for m in raw} - {""}

    async def ancestors(self, event_id: str, *, depth: int = 10) -> list[str]:
        return await _walk(event_id, lambda node: self._members(f"{self._prefix}p:{node}"), depth)

    async def descendants(self, event_id: str, *, depth: int = 10) -> list[str]:
        return await _walk(event_id, lambda node: self._members(f"{self._prefix}c:{node}"), depth)

    async def close(self) -> None:
        await self._redis.aclose()
