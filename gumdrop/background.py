"""Work a service repeats beside its consumers (retention, counts, OKR figures), stopped together with it.

A run that fails with a store error is logged and tried again at the next period: an outage
of the database must not end the loop (the consumers hold their own work meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from gumdrop.store_errors import StoreError

__all__ = ["Background"]

log = structlog.get_logger(__name__)


class Background:
    """Named periodic tasks, cancelled together by :meth:`stop`."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, work: Callable[[], Awaitable[object]], *, name: str) -> None:
        """Run ``work`` now and then every ``seconds`` (counted from the end of a run) until stopped."""
        self._tasks.append(asyncio.create_task(self._repeat(seconds, work, name), name=name))

    async def stop(self) -> None:
        """Cancel every task and wait until each has ended."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    async def _repeat(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        while True:
            try:
                await work()
            except StoreError as exc:
                log.warning("periodic work failed; tried again at the next period", task=name, error=str(exc))
            await asyncio.sleep(seconds)
