"""``GET /events/trace/{event_id}``: the causation graph around one event, bounded."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from candystore.api.errors import error_responses
from candystore.api.models import TraceModel
from candystore.api.params import only_query
from candystore.store import EventStore, Trace, TraceNode
from gumdrop.access_control import requires
from gumdrop.http_errors import ApiError, json_response
from gumdrop.principals import Scope

__all__ = ["trace_routes"]

_DESCRIPTION = """\
The events that caused this one (ancestors) and that it caused (descendants), following
`correlation_ids` both ways, cycle-safe. Stored events come as their envelopes; a parent
that is named but not stored comes as `{"event_id", "placeholder": true}`. At most
`max_nodes` nodes: `truncated` says when the graph was cut short.
"""


def _node(node: TraceNode) -> dict[str, Any]:
    return node.envelope if node.envelope is not None else {"event_id": node.event_id, "placeholder": True}


def trace_document(trace: Trace) -> dict[str, Any]:
    """The JSON of a trace (envelopes kept exact, so it is encoded without a model pass)."""
    return {
        "root": trace.root,
        "nodes": [_node(node) for node in trace.nodes],
        "edges": [{"parent": edge.parent, "child": edge.child} for edge in trace.edges],
        "ancestors": trace.ancestors,
        "descendants": trace.descendants,
        "truncated": trace.truncated,
    }


def trace_routes(store: EventStore, *, ceiling: int) -> APIRouter:
    router = APIRouter(tags=["events"], dependencies=[requires(Scope.READ)])

    @router.get(
        "/events/trace/{event_id}",
        response_model=TraceModel,
        summary="The causation graph around an event",
        operation_id="traceEvent",
        description=_DESCRIPTION,
        responses=error_responses(404, 422, 503),
        dependencies=[Depends(only_query("max_nodes"))],
    )
    async def trace_event(
        event_id: Annotated[uuid.UUID, Path(description="the event whose graph to trace")],
        # A default rather than an annotation: the ceiling is known only here, not where annotations are resolved.
        max_nodes: int | None = Query(  # noqa: FAST002
            None,
            ge=1,
            json_schema_extra={"maximum": ceiling},
            description="nodes to return at most (default and ceiling: the server's setting)",
        ),
    ) -> Response:
        if max_nodes is not None and max_nodes > ceiling:
            raise ApiError.at(422, "query.max_nodes", f"must be at most {ceiling}, got {max_nodes}")
        found = await store.trace(str(event_id), max_nodes=max_nodes or ceiling)
        if found is None:
            raise ApiError.at(404, "path.event_id", f"no event {event_id} is stored or named as a parent")
        return json_response(200, trace_document(found))

    return router
