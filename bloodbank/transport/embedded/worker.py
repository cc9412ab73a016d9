"""The one thread that owns the SQLite connection and commits many operations per transaction.

Operations submitted during one turn of the event loop travel to the thread together,
and everything waiting when the thread takes work runs in one transaction (group
commit): a hundred acks cost one commit, not a hundred. Each operation runs in a
savepoint, so one that fails is undone alone and the others still commit. A future
resolves only after its transaction committed, so what it reports is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from bloodbank.errors import BrokerUnavailable

__all__ = ["Worker"]

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Job:
    operation: Callable[[], Any]
    future: asyncio.Future[Any]


_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


class Worker:
    """Runs store operations on a thread of their own, in as few transactions as possible."""

    def __init__(self, connection: sqlite3.Connection, *, location: str, on_rollback: Callable[[], None]) -> None:
        self._connection = connection
        self._location = location
        self._on_rollback = on_rollback
        self._loop = asyncio.get_running_loop()
        self._inbox: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._outbox: list[_Job] = []
        self._stopping = False
        self._finished: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"bloodbank-embedded {location}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return not self._stopping and self._thread.is_alive()

    def submit(self, operation: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``operation`` on the thread; the future resolves once its transaction committed."""
        if not self.alive:
            raise BrokerUnavailable(f"the embedded broker {self._location} is closed; connect() it again")
        future: asyncio.Future[T] = self._loop.create_future()
        if not self._outbox:
            self._loop.call_soon(self._hand_over)
        self._outbox.append(_Job(operation, future))
        return future

    async def stop(self) -> None:
        """Finish what was submitted, close the connection and end the thread."""
        if self._stopping:
            return
        self._stopping = True
        self._hand_over()
        self._inbox.put(None)
        await self._finished

    def _hand_over(self) -> None:
        if self._outbox:
            jobs, self._outbox = self._outbox, []
            self._inbox.put(jobs)

    # --- on the thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            running = True
            while running and (jobs := self._inbox.get()) is not None:
                while True:  # take everything that queued up during the last transaction
                    try:
                        more = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        running = False
                        break
                    jobs.extend(more)
                self._report(self._transact(jobs))
        except BaseException:  # a bug: say so, and let connected turn False
            log.exception("embedded broker thread failed", location=self._location)
        finally:
            self._connection.close()
            self._call_soon(_finish, self._finished)

    def _transact(self, jobs: list[_Job]) -> list[_Outcome]:
        connection = self._connection
        outcomes: list[_Outcome] = []
        try:
            connection.execute("BEGIN")
            for job in jobs:
                connection.execute("SAVEPOINT job")
                try:
                    result = job.operation()
                except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the job
                    connection.execute("ROLLBACK TO job")
                    self._on_rollback()
                    outcomes.append((job.future, None, exc))
                else:
                    outcomes.append((job.future, result, None))
                connection.execute("RELEASE job")
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                    connection.execute("ROLLBACK")
            self._on_rollback()
            return [(job.future, None, exc) for job in jobs]
        return outcomes

    def _report(self, outcomes: list[_Outcome]) -> None:
        self._call_soon(_resolve, outcomes, self._location)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback, *args)


def _resolve(outcomes: list[_Outcome], location: str) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        elif isinstance(error, sqlite3.Error):
            # Translated here, at the boundary: nothing above the transport sees a sqlite3 error.
            unavailable = BrokerUnavailable(
                f"the embedded broker's database {location} failed: {error}; check the disk (space, permissions)"
            )
            unavailable.__cause__ = error
            future.set_exception(unavailable)
        else:
            future.set_exception(error)


def _finish(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)
