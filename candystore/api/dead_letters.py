"""Dead letters: ``GET /dlq``, ``GET /dlq/{id}``, ``POST /dlq/replay`` and ``DELETE /dlq/{id}``.

Replaying by ids is checked before anything is published: every id must be known (404)
and open (409). Discarding takes ``actor`` and ``reason`` as query parameters (a DELETE
body is dropped by too many clients and proxies); the row is kept for audit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from bloodbank import Publisher
from candystore.api.errors import error_responses
from candystore.api.models import (
    DeadLetterFilterBody,
    DeadLetterModel,
    DeadLetterPageModel,
    ReplayRequest,
    ReplayResponse,
    ReplayResultModel,
)
from candystore.api.params import Cursor, Timestamp, TypePatternText, only_query
from candystore.replay import ReplayOutcome, replay_dead_letters
from candystore.store import EventStore
from candystore.store.dead_letters import DeadLetterFilter, DeadLetterRecord, DeadLetterState
from gumdrop.access_control import audit_actor, requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Client, Scope
from holyfields import ValidationIssue

__all__ = ["dead_letter_routes"]

_LIST_NAMES = ("consumer", "event_type", "reason", "since", "until", "state", "limit", "cursor", "order")
_LetterId = Annotated[uuid.UUID, Path(description="the dead letter's id")]


def _not_found(letter_id: uuid.UUID) -> ApiError:
    return ApiError.at(404, "path.dead_letter_id", f"no dead letter {letter_id}")


def dead_letter_routes(store: EventStore, publisher: Publisher | None) -> APIRouter:
    router = APIRouter(tags=["dead letters"])
    reads = [requires(Scope.READ)]

    @router.get(
        "/dlq",
        response_model=DeadLetterPageModel,
        summary="List dead letters, newest first",
        operation_id="listDeadLetters",
        responses=error_responses(422, 503),
        dependencies=[*reads, Depends(only_query(*_LIST_NAMES))],
    )
    async def list_dead_letters(
        *,
        consumer: Annotated[str | None, Query(min_length=1, description="the consumer that gave up")] = None,
        event_type: Annotated[
            TypePatternText | None, Query(description="exact, or a pattern: `*` one word, `#` zero or more words")
        ] = None,
        reason: Annotated[
            str | None, Query(min_length=1, description="a piece of the error (case-insensitive)")
        ] = None,
        since: Annotated[Timestamp | None, Query(description="received at or after")] = None,
        until: Annotated[Timestamp | None, Query(description="received before")] = None,
        state: Annotated[DeadLetterState | None, Query(description="open, resolved or discarded")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[Cursor | None, Query(min_length=1)] = None,
        order: Annotated[Literal["asc", "desc"], Query(description="by when it was received")] = "desc",
    ) -> DeadLetterPageModel:
        filters = DeadLetterFilter(
            consumer=consumer, event_type=event_type, reason=reason, since=since, until=until, state=state
        )
        page = await store.dead_letters(filters, limit=limit, cursor=cursor, descending=order == "desc")
        return DeadLetterPageModel(
            items=[DeadLetterModel.of(item) for item in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/dlq/{dead_letter_id:uuid}",  # only a UUID: /dlq/replay is the POST route, any other method a 405
        response_model=DeadLetterModel,
        summary="One dead letter",
        operation_id="getDeadLetter",
        responses=error_responses(404, 422, 503),
        dependencies=[*reads, Depends(only_query())],
    )
    async def get_dead_letter(dead_letter_id: _LetterId) -> DeadLetterModel:
        found = await store.dead_letter(dead_letter_id)
        if found is None:
            raise _not_found(dead_letter_id)
        return DeadLetterModel.of(found)

    @router.post(
        "/dlq/replay",
        response_model=ReplayResponse,
        summary="Republish dead letters to the main exchange, marked as replays",
        operation_id="replayDeadLetters",
        responses=error_responses(404, 409, 422, 503),
        dependencies=[Depends(only_query())],
    )
    async def replay(body: ReplayRequest, client: Annotated[Client, requires(Scope.OPERATE)]) -> ReplayResponse:
        actor = audit_actor(client, body.actor, path="$.actor")
        if publisher is None:
            raise ApiError.at(503, None, "replay is unavailable: this Candystore is not connected to the bus")
        if (body.ids is None) == (body.filter is None):
            raise ApiError.at(422, "$", "give either ids or filter (not both)")
        if body.ids is not None:
            await _check_replayable(store, body.ids)
            results = await replay_dead_letters(
                store, publisher, actor=actor, ids=[str(letter_id) for letter_id in body.ids]
            )
        else:
            assert body.filter is not None  # noqa: S101 - checked above
            filters = _replay_filter(body.filter)
            results = await replay_dead_letters(store, publisher, actor=actor, filters=filters, limit=body.limit)
        return ReplayResponse(
            replayed=sum(result.outcome is ReplayOutcome.REPLAYED for result in results),
            results=[ReplayResultModel.of(result) for result in results],
        )

    @router.delete(
        "/dlq/{dead_letter_id:uuid}",  # only a UUID: /dlq/replay is the POST route, any other method a 405
        response_model=DeadLetterModel,
        summary="Discard a dead letter (kept for audit with who and why)",
        operation_id="discardDeadLetter",
        responses=error_responses(404, 409, 422, 503),
        dependencies=[Depends(only_query("actor", "reason"))],
    )
    async def discard(
        dead_letter_id: _LetterId,
        reason: Annotated[str, Query(min_length=1, max_length=2000, description="why it is discarded")],
        client: Annotated[Client, requires(Scope.OPERATE)],
        actor: Annotated[
            str | None,
            Query(
                min_length=1, max_length=200, description="who discards it; with API keys, the client (leave it out)"
            ),
        ] = None,
    ) -> DeadLetterModel:
        who = audit_actor(client, actor, path="query.actor")
        discarded = await store.discard_dead_letter(dead_letter_id, actor=who, reason=reason)
        if discarded is None:
            raise _not_found(dead_letter_id)
        return DeadLetterModel.of(discarded)

    return router


def _replay_filter(body: DeadLetterFilterBody) -> DeadLetterFilter:
    """The body's filter (its pattern and times were checked as the body was read)."""
    return DeadLetterFilter(
        consumer=body.consumer, event_type=body.event_type, reason=body.reason, since=body.since, until=body.until
    )


async def _check_replayable(store: EventStore, ids: list[uuid.UUID]) -> None:
    """404 naming every unknown id, else 409 naming every one that is not open; nothing is published."""
    found: list[tuple[int, uuid.UUID, DeadLetterRecord | None]] = [
        (index, letter_id, await store.dead_letter(letter_id)) for index, letter_id in enumerate(ids)
    ]
    missing = [
        ValidationIssue(f"$.ids[{index}]", f"no dead letter {letter_id}")
        for index, letter_id, row in found
        if row is None
    ]
    if missing:
        raise ApiError(404, missing)
    closed = [
        ValidationIssue(
            f"$.ids[{index}]", f"dead letter {letter_id} is {row.state.value}, not open: it cannot be replayed"
        )
        for index, letter_id, row in found
        if row is not None and row.state is not DeadLetterState.OPEN
    ]
    if closed:
        raise ApiError(409, closed)
