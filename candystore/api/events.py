"""``GET /events`` (filtered, cursor-paged) and ``GET /events/{event_id}`` (the envelope as published)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from bloodbank import cloudevents
from candystore.api.errors import error_responses
from candystore.api.models import EventPage
from candystore.api.params import EVENT_FILTER_NAMES, Cursor, event_filter_query, only_query
from candystore.conditions import CONDITION_SYNTAX, MAX_CONDITION_LENGTH
from candystore.store import EventFilter, EventStore
from gumdrop.access_control import requires
from gumdrop.http_errors import ApiError, json_response
from gumdrop.principals import Scope
from holyfields import Catalog, default_catalog
from holyfields.generated.python import EventEnvelope

__all__ = ["event_routes"]

_QUERY_NAMES = (*EVENT_FILTER_NAMES, "limit", "cursor", "order")

_LIST_DESCRIPTION = f"""\
Events matching every given filter, in (timestamp, event_id) order. `event_type` takes wildcards:
`*` is exactly one word, `#` zero or more words (`retail.#`, `*.workflow.*.v1`). Pass `next_cursor`
back as `cursor` for the next page: pages stay stable while events arrive.

Besides the named parameters, payload conditions `payload.PATH[op]=value` keep the events whose
payload meets each of them (the conditions of outbound delivery subscriptions mean the same):

- `PATH` is dotted object keys into the payload (`payload.order.total`); a key of digits also
  steps into an array by index (`payload.items.0.sku`).
- `op` is `eq` (the default when `[op]` is left out), `ne`, `lt`, `gt`, `contains` or `exists`.
- The value is read as a JSON scalar when it is one (`3`, `2.5`, `true`, `null`, `"3"`) and as
  text otherwise (`payload.store_id=s1`). Numbers compare by value (`3` equals `3.0`); text never
  equals a number, nor `true` the number 1.
- `ne` holds for a present field that is not equal; `lt` and `gt` order numbers with numbers and
  text with text by code point (RFC 3339 times in UTC compare as text), anything else never;
  `contains` is a substring of text or an item of an array; `exists` takes `true` (present, null
  included) or `false` (absent). Any other condition on an absent field is false:
  `payload.status[ne]=cancelled` does not match an event without `status`.

Each condition is one parameter, given once, at most {MAX_CONDITION_LENGTH} characters counting
`payload.`, its path, its operator, `=` and its value, on one line (the whole parameter matches
`{CONDITION_SYNTAX}`); an integer value must fit 64 bits. A condition that does not is a 422
naming it (`query.payload.price[gt]`) and saying why.
"""


def event_routes(store: EventStore, *, catalog: Catalog | None = None) -> APIRouter:
    catalog = catalog or default_catalog()
    router = APIRouter(tags=["events"], dependencies=[requires(Scope.READ)])

    @router.get(
        "/events",
        response_model=EventPage,
        summary="Query stored events",
        operation_id="listEvents",
        description=_LIST_DESCRIPTION,
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query(*_QUERY_NAMES, payload=True))],
    )
    async def list_events(
        filters: Annotated[EventFilter, Depends(event_filter_query)],
        *,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[Cursor | None, Query(min_length=1)] = None,
        order: Annotated[Literal["asc", "desc"], Query(description="oldest first (asc) or newest first")] = "asc",
    ) -> Response:
        page = await store.query(filters, limit=limit, cursor=cursor, descending=order == "desc")
        return json_response(200, {"items": page.items, "next_cursor": page.next_cursor})

    @router.get(
        "/events/{event_id}",
        response_model=EventEnvelope,
        summary="One event, exactly as published (timestamp in UTC)",
        description=f"With `Accept: {cloudevents.STRUCTURED}`, the event as a CloudEvent in structured mode "
        "(design.md, Interop).",
        operation_id="getEvent",
        responses={
            **error_responses(404, 422, 503),
            200: {"content": {cloudevents.STRUCTURED: {"schema": {"type": "object"}}}},
        },
        dependencies=[Depends(only_query())],
    )
    async def get_event(
        request: Request, event_id: Annotated[uuid.UUID, Path(description="the event's id")]
    ) -> Response:
        document = await store.document(event_id)
        if document is None:
            raise ApiError.at(404, "path.event_id", f"no event {event_id} is stored")
        if cloudevents.STRUCTURED in request.headers.get("accept", ""):
            event = cloudevents.structured(msgspec.json.decode(document), catalog=catalog)
            return Response(msgspec.json.encode(event), media_type=cloudevents.STRUCTURED)
        return Response(document, media_type="application/json")

    return router
