"""``GET /conflicts``, ``GET /conflicts/{id}`` and ``POST /conflicts/{id}/actions``."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from gumdrop.access_control import audit_actor, requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Client, Scope
from visibility.api.errors import error_responses
from visibility.api.models import ConflictDetailModel, ConflictPageModel
from visibility.api.params import Cursor, Timestamp, only_query
from visibility.domain.transitions import Action
from visibility.lifecycle import Lifecycle
from visibility.store import ConflictFilter, VisibilityStore

__all__ = ["ActionRequest", "conflict_routes"]

_LIST_NAMES = ("status", "rule", "team", "since", "until", "limit", "cursor")
_ConflictId = Annotated[uuid.UUID, Path(description="the conflict's id")]
StatusFilter = Literal["open", "acknowledged", "fixed", "accepted", "disputed", "unresolved", "resolved", "escalated"]

_LIST_DESCRIPTION = """\
Conflicts matching every given filter, newest first (by `detected_at`). `status` is a
status, or `unresolved` (open or acknowledged), `resolved` (fixed, accepted or disputed),
`escalated` (unresolved and escalated). Pass `next_cursor` back as `cursor` for the next
page.
"""


class ActionRequest(BaseModel):
    """What a person does to a conflict."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"required": ["action"], "properties": {"action": {"enum": ["accept", "dispute"]}}},
            "then": {"required": ["note"], "properties": {"note": {"type": "string", "pattern": r"\S"}}},
        },
    )

    action: Action = Field(description="acknowledge, then fix, accept or dispute")
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="who acts, e.g. an e-mail address or a team; with API keys, the client (leave it out)",
    )
    note: str | None = Field(
        default=None, max_length=4000, description="what was done; required (the reason) to accept or dispute"
    )


def _not_found(conflict_id: uuid.UUID) -> ApiError:
    return ApiError.at(404, "path.conflict_id", f"no conflict {conflict_id}")


def conflict_routes(store: VisibilityStore, lifecycle: Lifecycle) -> APIRouter:
    router = APIRouter(tags=["conflicts"])
    reads = [requires(Scope.READ)]

    @router.get(
        "/conflicts",
        summary="List conflicts, newest first",
        operation_id="listConflicts",
        description=_LIST_DESCRIPTION,
        response_model=ConflictPageModel,
        responses=error_responses(422, 503),
        dependencies=[*reads, Depends(only_query(*_LIST_NAMES))],
    )
    async def list_conflicts(
        *,
        status: Annotated[StatusFilter | None, Query(description="a status, unresolved, resolved or escalated")] = None,
        rule: Annotated[str | None, Query(min_length=1, max_length=64, description="the rule's id")] = None,
        team: Annotated[str | None, Query(min_length=1, max_length=64, description="a team taking part")] = None,
        since: Annotated[Timestamp | None, Query(description="detected at or after (RFC 3339 with offset)")] = None,
        until: Annotated[Timestamp | None, Query(description="detected before (RFC 3339 with offset)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[Cursor | None, Query(min_length=1)] = None,
    ) -> ConflictPageModel:
        filters = ConflictFilter(status=status, rule=rule, team=team, since=since, until=until)
        return ConflictPageModel.of(await store.conflicts(filters, limit=limit, cursor=cursor))

    @router.get(
        "/conflicts/{conflict_id}",
        summary="One conflict with its evidence and every action taken on it",
        operation_id="getConflict",
        response_model=ConflictDetailModel,
        responses=error_responses(404, 422, 503),
        dependencies=[*reads, Depends(only_query())],
    )
    async def get_conflict(conflict_id: _ConflictId) -> ConflictDetailModel:
        found = await store.conflict(conflict_id)
        if found is None:
            raise _not_found(conflict_id)
        return ConflictDetailModel.of(found)

    @router.post(
        "/conflicts/{conflict_id}/actions",
        summary="Acknowledge, fix, accept or dispute a conflict",
        operation_id="actOnConflict",
        description=(
            "acknowledge first; then fix, accept (a note with the reason is required) or dispute as a false "
            "positive (a note with the reason is required). Any other move answers 409 saying why."
        ),
        response_model=ConflictDetailModel,
        responses=error_responses(404, 409, 422, 503),
        dependencies=[Depends(only_query())],
    )
    async def act(
        conflict_id: _ConflictId, request: ActionRequest, client: Annotated[Client, requires(Scope.OPERATE)]
    ) -> ConflictDetailModel:
        note = request.note.strip() if request.note else None
        actor = audit_actor(client, request.actor, path="$.actor")
        conflict = await lifecycle.act(conflict_id, request.action, actor=actor, note=note)
        if conflict is None:
            raise _not_found(conflict_id)
        return ConflictDetailModel.of(conflict)

    return router
