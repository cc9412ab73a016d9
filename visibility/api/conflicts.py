"""``GET /conflicts``, ``GET /conflicts/{id}``, ``POST /conflicts/{id}/actions`` and ``POST /conflict-actions``.

The last applies one action with one note to many conflicts (up to :data:`MAX_BULK`): each
is judged on its own and the answer says, per id, whether it was applied, not found or
refused in its status; every one applied is committed together.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from gumdrop.access_control import audit_actor, requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Client, Scope
from visibility.api.errors import error_responses
from visibility.api.models import BulkActionModel, ConflictDetailModel, ConflictPageModel
from visibility.api.params import Cursor, Timestamp, only_query
from visibility.domain.transitions import Action
from visibility.lifecycle import Lifecycle
from visibility.store import ConflictFilter, VisibilityStore

__all__ = ["MAX_BULK", "ActionRequest", "BulkActionRequest", "conflict_routes"]

MAX_BULK = 500
"""Conflicts one ``POST /conflict-actions`` may name at most."""

_LIST_NAMES = ("status", "rule", "team", "product_id", "store_id", "since", "until", "limit", "cursor")
_ConflictId = Annotated[uuid.UUID, Path(description="the conflict's id")]
StatusFilter = Literal["open", "acknowledged", "fixed", "accepted", "disputed", "unresolved", "resolved", "escalated"]

_LIST_DESCRIPTION = """\
Conflicts matching every given filter, newest first (by `detected_at`). `status` is a
status, or `unresolved` (open or acknowledged), `resolved` (fixed, accepted or disputed),
`escalated` (unresolved and escalated). `product_id` and `store_id` match exactly. Pass
`next_cursor` back as `cursor` for the next page.
"""

_BULK_DESCRIPTION = f"""\
Acknowledge, accept or dispute up to {MAX_BULK} conflicts with one note (required to accept or
dispute). Each conflict is judged on its own: `results` has one item per id, in the order
given, saying whether the action was `applied`, the conflict was `not_found`, or the action
was `refused` in its status (with the reason, as the single-conflict route's 409 says it).
Every applied action is committed in one transaction: on a 503 none was applied. The answer
is 200 whatever the mix of outcomes; `applied` counts the ones applied.
"""

BulkAction = Literal["acknowledge", "accept", "dispute"]

Actor = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=128,
        description="who acts, e.g. an e-mail address or a team; with API keys, the client (leave it out)",
    ),
]
_NOTE_TO_RESOLVE: JsonDict = {
    "if": {"required": ["action"], "properties": {"action": {"enum": ["accept", "dispute"]}}},
    "then": {"required": ["note"], "properties": {"note": {"type": "string", "pattern": r"\S"}}},
}
"""The note an accept or a dispute requires (its reason), as the document says it: checked by the lifecycle."""


class ActionRequest(BaseModel):
    """What a person does to a conflict."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_NOTE_TO_RESOLVE,
    )

    action: Action = Field(description="acknowledge, then fix, accept or dispute")
    actor: Actor = None
    note: str | None = Field(
        default=None, max_length=4000, description="what was done; required (the reason) to accept or dispute"
    )


class BulkActionRequest(BaseModel):
    """One action with one note on many conflicts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_NOTE_TO_RESOLVE,
    )

    conflict_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=MAX_BULK,
        json_schema_extra={"uniqueItems": True},
        description=f"the conflicts to act on, each once (1 to {MAX_BULK})",
    )
    action: BulkAction = Field(description="acknowledge open conflicts, or accept or dispute acknowledged ones")
    actor: Actor = None
    note: str | None = Field(
        default=None, max_length=4000, description="what was done, recorded on each; required to accept or dispute"
    )

    @field_validator("conflict_ids")
    @classmethod
    def _each_once(cls, conflict_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        seen: set[uuid.UUID] = set()
        for conflict_id in conflict_ids:
            if conflict_id in seen:
                raise ValueError(f"conflict {conflict_id} is named twice: name each conflict once")
            seen.add(conflict_id)
        return conflict_ids


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
        product_id: Annotated[str | None, Query(min_length=1, max_length=128, description="the product's id")] = None,
        store_id: Annotated[str | None, Query(min_length=1, max_length=128, description="the store's id")] = None,
        since: Annotated[Timestamp | None, Query(description="detected at or after (RFC 3339 with offset)")] = None,
        until: Annotated[Timestamp | None, Query(description="detected before (RFC 3339 with offset)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[Cursor | None, Query(min_length=1)] = None,
    ) -> ConflictPageModel:
        filters = ConflictFilter(
            status=status, rule=rule, team=team, product_id=product_id, store_id=store_id, since=since, until=until
        )
        return ConflictPageModel.of(await store.conflicts(filters, limit=limit, cursor=cursor))

    @router.post(
        "/conflict-actions",
        summary="Acknowledge, accept or dispute many conflicts with one note",
        operation_id="actOnConflicts",
        description=_BULK_DESCRIPTION,
        response_model=BulkActionModel,
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query())],
    )
    async def act_on_many(
        request: BulkActionRequest, client: Annotated[Client, requires(Scope.OPERATE)]
    ) -> BulkActionModel:
        note = request.note.strip() if request.note else None
        actor = audit_actor(client, request.actor, path="$.actor")
        action = Action(request.action)
        return BulkActionModel.of(
            action, await lifecycle.act_on_many(request.conflict_ids, action, actor=actor, note=note)
        )

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
