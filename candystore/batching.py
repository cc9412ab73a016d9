"""Writing deliveries in batches: one transaction per batch, each delivery settled only after the commit.

A :class:`Batcher` collects deliveries (``batch_size`` at most, or what arrived within
``batch_wait`` of the oldest) and hands each batch to ``write`` (the transaction), then
to ``settle`` (ack or dead-letter each delivery). Up to ``writers`` batches are written
at once, so that a batch does not wait for the previous one's commit; a new batch is
taken only when a writer is free, so that batches grow while the database is busy.

While ``write`` fails, because the database is down, the batch stays in hand and is
written again after 0.5 s, 1 s, 2 s … up to 10 s between attempts: nothing is
acknowledged, nothing dead-lettered, and the transport's prefetch keeps the broker from
sending more than the batcher can hold.

Stopping writes what is in hand (one immediate attempt when the database was down,
all within the stop's ``timeout``) and releases whatever could not be written, so that it
is delivered again. Deliveries offered after stopping began are refused: the caller
leaves them unsettled and the transport gives them back when its subscription stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from bloodbank import BloodbankError
from bloodbank.transport import Delivery
from candystore.store import DatabaseUnavailable

__all__ = ["Batcher", "Held"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

FIRST_RETRY_DELAY = 0.5
"""Seconds before writing a batch again after the first failure; doubled after each one."""
MAX_RETRY_DELAY = 10.0
"""The longest wait between two attempts to write a batch."""


@dataclass(frozen=True, slots=True)
class Held(Generic[T]):
    """A delivery in hand, with what was read from it and when it arrived (event-loop time)."""

    delivery: Delivery
    value: T
    received: float


class Batcher(Generic[T, R]):
    """Collects deliveries and writes them in batches, holding a batch while the database is down."""

    def __init__(
        self,
        *,
        name: str,
        write: Callable[[Sequence[Held[T]]], Awaitable[R]],
        settle: Callable[[Sequence[Held[T]], R], Awaitable[None]],
        batch_size: int,
        batch_wait: float,
        writers: int = 1,
        first_retry_delay: float = FIRST_RETRY_DELAY,
        max_retry_delay: float = MAX_RETRY_DELAY,
    ) -> None:
        if batch_size < 1 or batch_wait <= 0 or writers < 1:
            raise ValueError(
                "batch_size and writers must be at least 1 and batch_wait positive, "
                f"got {batch_size}, {writers}, {batch_wait}"
            )
        self.name = name
        self._write = write
        self._settle = settle
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._writers = writers
        self._first_retry_delay = first_retry_delay
        self._max_retry_delay = max_retry_delay
        self._pending: list[Held[T]] = []
        self._writing: list[list[Held[T]]] = []  # the batches whose transactions are not committed yet
        self._arrived = asyncio.Event()  # set by offer() and stop(): the loop has something to look at
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.failing = False
        """Whether the last attempt to write failed (the database is down): deliveries are being held."""

    @property
    def in_hand(self) -> int:
        """Deliveries held and not settled yet."""
        return len(self._pending) + sum(len(batch) for batch in self._writing)

    @property
    def stopping(self) -> bool:
        """Stopping began: offers are refused from here on."""
        return self._stopping

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"candystore {self.name} batches")

    def offer(self, delivery: Delivery, value: T) -> bool:
        """Take a delivery into the next batch; False once stopping began (leave it unsettled then)."""
        if self._stopping:
            return False
        self._pending.append(Held(delivery, value, asyncio.get_running_loop().time()))
        self._arrived.set()
        return True

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Write what is in hand (within ``timeout`` seconds), release what could not be written, then return."""
        self._stopping = True
        self._arrived.set()
        task = self._task
        if task is None:
            await self._release_in_hand()
            return
        _, running = await asyncio.wait({task}, timeout=timeout)
        if running:
            log.warning("stop timeout reached; releasing the deliveries in hand", batcher=self.name, held=self.in_hand)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._release_in_hand()

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        free = asyncio.Semaphore(self._writers)
        writing: set[asyncio.Task[None]] = set()
        try:
            while True:
                await free.acquire()
                batch = await self._next_batch()
                if not batch:
                    break
                self._writing.append(batch)
                task = asyncio.create_task(self._write_and_settle(batch), name=f"candystore {self.name} write")
                writing.add(task)
                task.add_done_callback(writing.discard)
                task.add_done_callback(lambda _: free.release())
            await asyncio.gather(*writing)
        finally:
            for task in writing:  # stop()'s timeout cancelled the loop: the writes in flight go with it
                task.cancel()
            await asyncio.gather(*writing, return_exceptions=True)

    async def _write_and_settle(self, batch: list[Held[T]]) -> None:
        written = await self._write_until_committed(batch)
        if written is None:
            return  # stopping while the database is down: stop() releases what is in hand
        self._writing = [other for other in self._writing if other is not batch]
        try:
            await self._settle(batch, written[0])
        except Exception:  # a bug: the unsettled deliveries come back after a restart and are absorbed
            log.exception("settling a committed batch failed", batcher=self.name, size=len(batch))

    async def _next_batch(self) -> list[Held[T]]:
        """The next batch: full, or as much as arrived within batch_wait of its oldest; empty when stopped."""
        loop = asyncio.get_running_loop()
        while not self._pending:
            if self._stopping:
                return []
            self._arrived.clear()
            await self._arrived.wait()
        while len(self._pending) < self._batch_size and not self._stopping:
            remaining = self._pending[0].received + self._batch_wait - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        batch = self._pending[: self._batch_size]
        del self._pending[: self._batch_size]
        return batch

    async def _write_until_committed(self, batch: list[Held[T]]) -> tuple[R] | None:
        """Write the batch, trying again while the database is down; None when stopping interrupts the wait."""
        delay = self._first_retry_delay
        while True:
            try:
                result = await self._write(batch)
            except DatabaseUnavailable as exc:
                self._failed(batch, delay, str(exc), unexpected=False)
            except Exception as exc:  # noqa: BLE001 - whatever fails, the batch is held, never dropped
                self._failed(batch, delay, f"{type(exc).__name__}: {exc}", unexpected=True)
            else:
                if self.failing:
                    log.info("database back; batch written", batcher=self.name, size=len(batch))
                self.failing = False
                return (result,)
            if self._stopping:
                return None
            await self._pause(delay)
            delay = min(delay * 2, self._max_retry_delay)

    def _failed(self, batch: list[Held[T]], delay: float, error: str, *, unexpected: bool) -> None:
        self.failing = True
        report = log.error if unexpected else log.warning
        report(
            "batch not written; holding its deliveries",
            batcher=self.name,
            size=len(batch),
            held=self.in_hand,
            retry_in=None if self._stopping else delay,
            error=error[:500],
            exc_info=unexpected,
        )

    async def _pause(self, seconds: float) -> None:
        """Sleep before the next attempt; stop() cuts it short for one last attempt."""
        self._arrived.clear()
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wait_for_stop(), seconds)

    async def _wait_for_stop(self) -> None:
        while not self._stopping:
            self._arrived.clear()
            await self._arrived.wait()

    async def _release_in_hand(self) -> None:
        held = [*(item for batch in self._writing for item in batch), *self._pending]
        self._writing, self._pending = [], []
        if held:
            log.info("releasing deliveries not written", batcher=self.name, count=len(held))
        for item in held:
            try:
                await item.delivery.release()
            except BloodbankError as exc:  # it stays unacknowledged and comes back after a reconnect or restart
                log.warning("release failed", batcher=self.name, message_id=item.delivery.message_id, error=str(exc))
