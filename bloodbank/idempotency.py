"""Remembering which events a consumer has handled, so a redelivery is acknowledged without a second run.

Two stores behind one small port: Redis (``SET NX`` with a TTL, shared by every
replica of a consumer) and a local SQLite file (one process; survives a restart).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["IdempotencyStore", "LocalIdempotencyStore", "RedisIdempotencyStore"]

_IDS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


class IdempotencyStore(Protocol):
    async def seen(self, consumer: str, event_id: str) -> bool:
        """Whether ``consumer`` has already handled ``event_id``."""
        ...

    async def remember(self, consumer: str, event_id: str) -> None:
        """Record that ``consumer`` handled ``event_id``."""
        ...

    async def close(self) -> None: ...


class RedisIdempotencyStore:
    def __init__(self, redis: Redis, *, ttl: int, prefix: str = "bloodbank:handled:") -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix

    def _key(self, consumer: str, event_id: str) -> str:
        return f"{self._prefix}{consumer}:{event_id}"

    async def seen(self, consumer: str, event_id: str) -> bool:
        return bool(await self._redis.exists(self._key(consumer, event_id)))

    async def remember(self, consumer: str, event_id: str) -> None:
        await self._redis.set(self._key(consumer, event_id), b"1", ex=self._ttl)

    async def close(self) -> None:
        await self._redis.aclose()


class LocalIdempotencyStore:
    """SQLite-backed (``":memory:"`` for tests); entries older than the TTL are pruned as it goes.

    Writes are batched: ``remember`` records in memory at once and commits with the
    others of the same moment (within ``flush_interval``). A crash can forget the last
    few ids, which only means those events may be handled once more — the same
    at-least-once window as a crash between a handler and its acknowledgement.

    Reads mostly stay in memory. Only this process writes the file, so while every live
    entry fits in memory (``recent`` of them, loaded when the store opens) the memory
    holds the whole answer and SQLite is not asked. Beyond that, the ``seen`` questions
    of one turn of the event loop are answered together by one query.
    """

    def __init__(self, path: str | Path, *, ttl: int, flush_interval: float = 0.02, recent: int = 100_000) -> None:
        in_memory = str(path) == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS handled"
            " (consumer TEXT, event_id TEXT, at REAL, PRIMARY KEY (consumer, event_id))"
        )
        # Commits (and WAL checkpoints, which fsync) run in a thread on a connection of their own, so
        # they never block the event loop; reads stay on the loop (WAL lets them run alongside).
        self._writer = (
            self._db if in_memory else sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        )
        self._in_memory = in_memory
        self._ttl = ttl
        self._flush_interval = flush_interval
        self._recent: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._recent_limit = recent
        self._pending: list[tuple[str, str, float]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushes = 0
        self._questions: list[tuple[str, str, asyncio.Future[float | None]]] = []
        self._complete = self._load_live()  # whether memory holds every live entry of the file

    def _load_live(self) -> bool:
        """Load the file's entries when all of them fit in memory; whether they did (reads at most ``recent`` + 1)."""
        rows = self._db.execute(
            "SELECT consumer, event_id, at FROM handled LIMIT ?", (self._recent_limit + 1,)
        ).fetchall()
        if len(rows) > self._recent_limit:
            return False
        live_since = time.time() - self._ttl
        live = sorted((float(at), consumer, event_id) for consumer, event_id, at in rows if at > live_since)
        self._recent.update(((consumer, event_id), at) for at, consumer, event_id in live)
        return True

    async def seen(self, consumer: str, event_id: str) -> bool:
        at = self._recent.get((consumer, event_id))
        if at is None and not self._complete:
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[float | None] = loop.create_future()
            self._questions.append((consumer, event_id, answer))
            if len(self._questions) == 1:
                loop.call_soon(self._answer)
            at = await answer
        return at is not None and at > time.time() - self._ttl

    def _answer(self) -> None:
        questions, self._questions = self._questions, []
        try:
            found = self._look_up(questions)
        except sqlite3.Error as exc:
            for *_, answer in questions:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for consumer, event_id, answer in questions:
            if not answer.done():  # its caller may have been cancelled meanwhile
                answer.set_result(found.get((consumer, event_id)))

    def _look_up(self, questions: list[tuple[str, str, asyncio.Future[float | None]]]) -> dict[tuple[str, str], float]:
        by_consumer: dict[str, list[str]] = {}
        for consumer, event_id, _ in questions:
            by_consumer.setdefault(consumer, []).append(event_id)
        found: dict[tuple[str, str], float] = {}
        for consumer, ids in by_consumer.items():
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start : start + _IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT event_id, at FROM handled WHERE consumer = ? AND event_id IN ({marks})",  # noqa: S608 - only placeholders
                    (consumer, *chunk),
                )
                found.update(((consumer, event_id), float(at)) for event_id, at in rows)
        return found

    async def remember(self, consumer: str, event_id: str) -> None:
        now = time.time()
        self._recent[(consumer, event_id)] = now
        if len(self._recent) > self._recent_limit:
            self._recent.popitem(last=False)
            self._complete = False  # the forgotten entry is only in the file now
        self._pending.append((consumer, event_id, now))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_interval)
        pending, self._pending = self._pending, []
        if self._in_memory:
            self._write(pending)
        else:
            await asyncio.to_thread(self._write, pending)

    def _write(self, pending: list[tuple[str, str, float]]) -> None:
        if not pending:
            return
        with self._writer:
            self._writer.execute("BEGIN")
            self._writer.executemany("INSERT OR REPLACE INTO handled VALUES (?, ?, ?)", pending)
        self._flushes += 1
        if self._flushes % 500 == 0:
            self._writer.execute("DELETE FROM handled WHERE at < ?", (time.time() - self._ttl,))

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher  # the write in progress, if any, finishes
        self._write(self._pending)
        self._pending = []
        if self._writer is not self._db:
            self._writer.close()
        self._db.close()
