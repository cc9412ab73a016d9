"""Writing deliveries in batches: one transaction per batch, each delivery settled only after the commit.

A :class:`Batcher` collects deliveries (``batch_size`` at most, or what arrived within
``batch_wait`` of the oldest) and hands each batch to ``write`` (the transaction), then
to ``settle`` (ack or dead-letter each delivery). Up to ``writers`` batches are written
at once, so that a batch does not wait for the previous one's commit; a new batch is
taken only when a writer is free, so that batches grow while the database is busy.

A write fails in one of two ways:

- **The infrastructure** (:class:`~candystore.store.DatabaseUnavailable`: the database
  down, a timeout, a full disk, a serialization failure, a read-only database). The batch
  stays in hand and is written again after 0.5 s, 1 s, 2 s … up to 10 s between attempts:
  nothing is acknowledged, nothing dead-lettered, and the transport's prefetch keeps the
  broker from sending more than the batcher can hold.
- **Anything else** (the database refused a record, :class:`~candystore.store.RecordRejected`,
  or an unexpected exception such as an ``OverflowError``): one record must be at fault, and it
  must not hold the others. The batch is bisected: each half is written, and settled, on its
  own, and a half that fails is bisected in turn, until each record that fails alone is found
  and handed to ``reject`` with the reason (the caller dead-letters it) while the rest commit.
  Bisecting a batch of n deliveries takes 2n - 1 writes at most, however many are at fault.
  An infrastructure error while bisecting holds the part being written, as above.

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
from candystore.store import DatabaseUnavailable, StoreError
from gumdrop.backoff import Backoff

__all__ = ["Batcher", "Held"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

OUTAGE_BACKOFF = Backoff(first=0.5, ceiling=10.0)
"""Pauses between attempts to write a batch while the database is unavailable."""


@dataclass(frozen=True, slots=True)
class Held(Generic[T]):
    """A delivery in hand, with what was read from it and when it arrived (event-loop time)."""

    delivery: Delivery
    value: T
    received: float


class Batcher(Generic[T, R]):
    """Collects deliveries and writes them in batches, holding a batch while the database is down.

    ``reject`` receives each delivery whose record cannot be written (see the module) with the
    reason; it must settle the delivery. If it raises, the delivery is released.
    """

    def __init__(
        self,
        *,
        name: str,
        write: Callable[[Sequence[Held[T]]], Awaitable[R]],
        settle: Callable[[Sequence[Held[T]], R], Awaitable[None]],
        reject: Callable[[Held[T], str], Awaitable[None]],
        batch_size: int,
        batch_wait: float,
        writers: int = 1,
        backoff: Backoff = OUTAGE_BACKOFF,
    ) -> None:
        if batch_size < 1 or batch_wait <= 0 or writers < 1:
            raise ValueError(
                "batch_size and writers must be at least 1 and batch_wait positive, "
                f"got {batch_size}, {writers}, {batch_wait}"
            )
        self.name = name
        self._write = write
        self._settle = settle
        self._reject = reject
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._writers = writers
        self.backoff = backoff
        self._pending: list[Held[T]] = []
        # Taken into a batch and not settled yet, by id(): in arrival order, since batches are taken in order.
        self._writing: dict[int, Held[T]] = {}
        self._arrived = asyncio.Event()  # set by offer() and stop(): the loop has something to look at
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.failing = False
        """Whether the last attempt to write failed on the infrastructure: deliveries are being held."""

    @property
    def in_hand(self) -> int:
        """Deliveries held and not settled yet."""
        return len(self._pending) + len(self._writing)

    @property
    def oldest_held_since(self) -> float | None:
        """Event-loop time at which the oldest delivery in hand, not settled yet, arrived; None when none is."""
        oldest = next(iter(self._writing.values()), None)  # anything taken into a batch arrived before the rest
        if oldest is None and self._pending:
            oldest = self._pending[0]
        return None if oldest is None else oldest.received

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
        writing: set[asyncio.Task[bool]] = set()
        try:
            while True:
                await free.acquire()
                batch = await self._next_batch()
                if not batch:
                    break
                self._writing.update((id(held), held) for held in batch)
                task = asyncio.create_task(self._write_part(batch), name=f"candystore {self.name} write")
                writing.add(task)
                task.add_done_callback(writing.discard)
                task.add_done_callback(lambda _: free.release())
            await asyncio.gather(*writing)
        finally:
            for task in writing:  # stop()'s timeout cancelled the loop: the writes in flight go with it
                task.cancel()
            await asyncio.gather(*writing, return_exceptions=True)

    async def _write_part(self, part: list[Held[T]], *, bisecting: bool = False) -> bool:
        """Write and settle ``part`` (a batch, or a piece of one when ``bisecting``).

        False when stopping interrupted an outage: what is not settled then stays in hand.
        """
        try:
            written = await self._write_until_committed(part)
        except Exception as exc:  # not the infrastructure: a record of the part is at fault
            if not bisecting:
                log.warning(
                    "batch not written; isolating the record at fault",
                    batcher=self.name,
                    size=len(part),
                    error=_describe(exc),
                    exc_info=False if isinstance(exc, StoreError) else exc,  # unexpected: where it was raised
                )
            return await self._isolate(part, exc)
        if written is None:
            return False  # stopping while the database is down: stop() releases what is in hand
        self._forget(part)
        try:
            await self._settle(part, written[0])
        except Exception:  # a bug: the unsettled deliveries come back after a restart and are absorbed
            log.exception("settling a committed batch failed", batcher=self.name, size=len(part))
        return True

    async def _isolate(self, part: list[Held[T]], error: Exception) -> bool:
        """``part`` failed because of a record in it: reject that record if it is alone, else write each half."""
        if len(part) == 1:
            await self._reject_one(part[0], error)
            return True
        middle = len(part) // 2
        if not await self._write_part(part[:middle], bisecting=True):
            return False
        return await self._write_part(part[middle:], bisecting=True)

    async def _reject_one(self, held: Held[T], error: Exception) -> None:
        self._forget([held])
        reason = _describe(error)
        log.error(
            "record not written; rejecting it",
            batcher=self.name,
            event_id=held.delivery.message_id,
            error_type=type(error).__name__,
            error=reason,
        )
        try:
            await self._reject(held, reason)
        except Exception:  # a bug: released, it comes back and is isolated again
            log.exception(
                "rejecting a record failed; releasing it", batcher=self.name, event_id=held.delivery.message_id
            )
            await self._release(held)

    def _forget(self, part: Sequence[Held[T]]) -> None:
        """Settled (or about to be): no longer in hand."""
        for held in part:
            self._writing.pop(id(held), None)

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

    async def _write_until_committed(self, part: list[Held[T]]) -> tuple[R] | None:
        """Write ``part``, again while the infrastructure fails; None when stopping interrupts the wait.

        Any other error is raised: the part is not held for it.
        """
        failures = 0
        while True:
            try:
                result = await self._write(part)
            except DatabaseUnavailable as exc:
                failures += 1
                delay = self.backoff.pause(failures)
                self._held(part, delay, exc)
            except Exception:
                self.failing = False  # the database answered: nothing is held for it
                raise
            else:
                if self.failing:
                    log.info("database back; batch written", batcher=self.name, size=len(part))
                self.failing = False
                return (result,)
            if self._stopping:
                return None
            await self._pause(delay)

    def _held(self, part: list[Held[T]], delay: float, error: DatabaseUnavailable) -> None:
        self.failing = True
        log.warning(
            "batch not written; holding its deliveries",
            batcher=self.name,
            size=len(part),
            held=self.in_hand,
            retry_in=None if self._stopping else delay,
            error=str(error)[:500],  # the outage says what it is: "the database is unavailable: …"
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
        held = [*self._writing.values(), *self._pending]
        self._writing, self._pending = {}, []
        if held:
            log.info("releasing deliveries not written", batcher=self.name, count=len(held))
        for item in held:
            await self._release(item)

    async def _release(self, item: Held[T]) -> None:
        try:
            await item.delivery.release()
        except BloodbankError as exc:  # it stays unacknowledged and comes back after a reconnect or restart
            log.warning("release failed", batcher=self.name, event_id=item.delivery.message_id, error=str(exc))


def _describe(error: BaseException) -> str:
    """Type and message of an error, cut short: enough to tell why, never a whole payload."""
    return f"{type(error).__name__}: {error}"[:500]
