"""Replays of stored events started over HTTP: each runs in a task of its own and reports its progress.

A replay can take long (every matching event, a page at a time, through the publisher with
confirms), so ``POST /replay`` starts one and answers at once; ``GET /replay/{id}`` reads
its progress from here. The work itself is :func:`candystore.replay.replay_events`, the
one ``candystore replay`` runs, so a replay started here marks its events the same way
(``x-bloodbank-replay: candystore``).

The registry lives in the memory of the process that started the replay: another replica
does not know the id, and a restart forgets every replay (one running then stops, having
published what it had; run it again: consumers absorb what they already handled, by event
id). It keeps the last :data:`KEPT_FINISHED` finished replays.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import structlog

from bloodbank import BloodbankError, Publisher
from candystore.replay import EventReplay, replay_events
from candystore.store import EventFilter, EventStore, StoreError

__all__ = ["KEPT_FINISHED", "ReplayJob", "ReplayJobs", "ReplayState"]

log = structlog.get_logger(__name__)

KEPT_FINISHED = 100
"""Finished replays whose progress stays readable; older ones are forgotten."""


class ReplayState(StrEnum):
    """Where a replay stands."""

    RUNNING = "running"
    """Publishing, a page at a time."""
    DONE = "done"
    """Every matching event was handled (published, or counted invalid or failed)."""
    FAILED = "failed"
    """Stopped before the end (the broker or the database went away): ``error`` says why."""


@dataclass(slots=True, kw_only=True)
class ReplayJob:
    """One replay: who started it, what it matched when it started, and what it did so far."""

    id: str
    actor: str
    matched: int
    started_at: datetime
    done: EventReplay = field(default_factory=EventReplay)
    state: ReplayState = ReplayState.RUNNING
    error: str | None = None
    finished_at: datetime | None = None

    def finish(self, state: ReplayState, error: str | None = None) -> None:
        self.state, self.error, self.finished_at = state, error, datetime.now(UTC)


class ReplayJobs:
    """The replays this process started, by id."""

    def __init__(self, store: EventStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher
        self._jobs: dict[str, ReplayJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, replay_id: str) -> ReplayJob | None:
        return self._jobs.get(replay_id)

    async def start(self, filters: EventFilter, *, actor: str) -> ReplayJob:
        """Count the matching events, then start republishing them in a task; the job tells its progress."""
        job = ReplayJob(
            id=str(uuid.uuid4()), actor=actor, matched=await self.store.count(filters), started_at=datetime.now(UTC)
        )
        self._forget_old()
        self._jobs[job.id] = job
        task = asyncio.create_task(self._run(job, filters), name=f"candystore-replay-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("replay started", replay_id=job.id, actor=actor, matched=job.matched)
        return job

    async def _run(self, job: ReplayJob, filters: EventFilter) -> None:
        def advance(done: EventReplay) -> None:
            job.done = done

        try:
            job.done = await replay_events(self.store, self.publisher, filters, progress=advance)
        except (BloodbankError, StoreError) as exc:
            job.finish(ReplayState.FAILED, str(exc))
            log.warning("replay stopped", replay_id=job.id, error=str(exc), replayed=job.done.replayed)
        except Exception as exc:  # a task's error would otherwise be lost; the job says it stopped
            job.finish(ReplayState.FAILED, f"{type(exc).__name__}: {exc}")
            log.exception("replay failed", replay_id=job.id)
        else:
            job.finish(ReplayState.DONE)
            log.info("replay done", replay_id=job.id, replayed=job.done.replayed, failed=job.done.failed)

    def _forget_old(self) -> None:
        finished = [job for job in self._jobs.values() if job.state is not ReplayState.RUNNING]
        for job in finished[: max(len(finished) - KEPT_FINISHED + 1, 0)]:  # oldest first: dicts keep order
            del self._jobs[job.id]
