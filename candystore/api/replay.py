"""``POST /replay`` (republish the stored events the filters of ``GET /events`` choose) and ``GET /replay/{id}``.

The filters are the query parameters of ``GET /events`` (read by the same functions,
:mod:`candystore.api.params`); the body says whether to only count (``dry_run``) and who
replays. A replay runs in the background (:mod:`candystore.api.replay_jobs`): the POST
answers 202 with its id and ``GET /replay/{id}`` its progress, from the memory of the
process that started it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bloodbank import Publisher
from candystore.api.errors import BODY_ERRORS, error_responses
from candystore.api.params import EVENT_FILTER_NAMES, event_filter_query, only_query
from candystore.api.replay_jobs import ReplayJob, ReplayJobs, ReplayState
from candystore.store import EventFilter, EventStore
from gumdrop.access_control import audit_actor, requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Client, Scope

__all__ = ["EventReplayCount", "EventReplayProgress", "EventReplayRequest", "replay_routes"]

_DESCRIPTION = """\
Republish the stored events that the query parameters choose, exactly as `GET /events` reads
them (`event_type` with wildcards, `source_app`, `since`, `until`, `correlation_id`,
`agent_name`, payload conditions `payload.PATH[op]=value`), oldest first, marked as replays
(`x-bloodbank-replay: candystore`) and keeping their ids, so a consumer that already handled
one absorbs it. With `"dry_run": true` the answer is the count alone (200). Otherwise the
replay starts in the background and the answer (202) is its id and progress: follow it at
`GET /replay/{replay_id}`. Replays are known to the Candystore process that started them
only, and only until it restarts.
"""


class EventReplayRequest(BaseModel):
    """How to replay the events the query parameters choose."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="count the matching events, publish nothing")
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who replays them (logged); with API keys, the client (leave it out)",
    )


class EventReplayCount(BaseModel):
    """A dry run: how many stored events the filters choose."""

    dry_run: bool = Field(default=True, description="always true: nothing was published")
    matched: int = Field(description="stored events matching the filters now")


class EventReplayProgress(BaseModel):
    """A replay's progress; the counts grow a page of events at a time."""

    replay_id: uuid.UUID
    state: ReplayState = Field(
        description="`running`; `done` once every matching event was handled; `failed` when it stopped early "
        "(`error` says why)"
    )
    done: bool = Field(description="whether it has finished (`done` or `failed`)")
    actor: str = Field(description="who started it")
    matched: int = Field(description="stored events matching the filters when it started")
    published: int = Field(description="events republished so far (confirmed by the broker)")
    invalid: int = Field(description="events the current schemas refuse: not published")
    failed: int = Field(description="events the broker refused")
    error: str | None = Field(description="why it stopped early; null unless `failed`")
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: ReplayJob) -> EventReplayProgress:
        return cls(
            replay_id=uuid.UUID(job.id),
            state=job.state,
            done=job.state is not ReplayState.RUNNING,
            actor=job.actor,
            matched=job.matched,
            published=job.done.replayed,
            invalid=job.done.invalid,
            failed=job.done.failed,
            error=job.error,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


def replay_routes(store: EventStore, publisher: Publisher | None) -> APIRouter:
    router = APIRouter(tags=["operations"])
    jobs = None if publisher is None else ReplayJobs(store, publisher)

    @router.post(
        "/replay",
        status_code=202,
        response_model=EventReplayProgress,
        summary="Republish stored events chosen by the filters of GET /events (or count them)",
        operation_id="replayEvents",
        description=_DESCRIPTION,
        responses={
            200: {"model": EventReplayCount, "description": "A dry run: the count alone"},
            **error_responses(422, 503),
            **BODY_ERRORS,
        },
        dependencies=[Depends(only_query(*EVENT_FILTER_NAMES, payload=True))],
    )
    async def replay(
        body: EventReplayRequest,
        client: Annotated[Client, requires(Scope.OPERATE)],
        filters: Annotated[EventFilter, Depends(event_filter_query)],
    ) -> EventReplayProgress | JSONResponse:
        actor = audit_actor(client, body.actor, path="$.actor")
        if body.dry_run:
            counted = EventReplayCount(matched=await store.count(filters))
            return JSONResponse(counted.model_dump(mode="json"), status_code=200)
        if jobs is None:
            raise ApiError.at(503, None, "replay is unavailable: this Candystore is not connected to the bus")
        return EventReplayProgress.of(await jobs.start(filters, actor=actor))

    @router.get(
        "/replay/{replay_id}",
        response_model=EventReplayProgress,
        summary="A replay's progress",
        operation_id="getReplay",
        responses=error_responses(404, 422),
        dependencies=[requires(Scope.READ), Depends(only_query())],
    )
    async def get_replay(
        replay_id: Annotated[uuid.UUID, Path(description="the id `POST /replay` answered")],
    ) -> EventReplayProgress:
        job = None if jobs is None else jobs.get(str(replay_id))
        if job is None:
            raise ApiError.at(
                404, "path.replay_id", f"no replay {replay_id} in this Candystore process (replays are kept in memory)"
            )
        return EventReplayProgress.of(job)

    return router
