"""Query parameters shared by the routes: event filters, payload conditions and the check for unknown names.

``payload.PATH[op]=value`` is a payload condition (design.md, Operations API), parsed by the one
parser outbound deliveries use too (:class:`~candystore.conditions.Condition`): ``PATH`` a dotted
path into the payload, ``op`` one of ``eq`` (the default), ``ne``, ``lt``, ``gt``, ``contains``,
``exists``; the value is read as a JSON scalar when it is one (``3``, ``true``, ``null``, ``"s1"``)
and as a string otherwise, so ``payload.store_id=s1`` is the plain equality it always was. The API
is stricter than the parser on two points the store needs: an integer beyond 64 bits is refused
(SQLite holds none exactly), and a parameter is given once.

A query parameter no route knows is refused (422) rather than ignored, so a misspelt filter
never silently returns everything. Times (:data:`Timestamp`) are read by the
platform's one timestamp parser, so a time the store cannot hold is a 422, not a 500;
event types (:data:`TypePatternText`) are patterns of :mod:`holyfields.wildcards`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.datastructures import QueryParams

from bloodbank.openapi import CURSOR_SCHEMA, Timestamp
from candystore.conditions import Condition, InvalidCondition, Operator
from candystore.store import EventFilter
from gumdrop import query_params
from gumdrop.http_errors import ApiError, issues_from_pydantic
from holyfields import ValidationIssue
from holyfields.wildcards import MAX_PATTERN_LENGTH, SYNTAX, InvalidPattern, TypePattern

__all__ = [
    "EVENT_FILTER_NAMES",
    "PAYLOAD_PREFIX",
    "Cursor",
    "StreamQuery",
    "Timestamp",
    "TypePatternText",
    "event_filter",
    "event_filter_query",
    "only_query",
    "parse_stream_filter",
    "payload_conditions",
    "payload_filters",
]

PAYLOAD_PREFIX = "payload."
EVENT_FILTER_NAMES = ("event_type", "source_app", "since", "until", "correlation_id", "agent_name")
"""The filters of ``GET /events`` and of the live stream, besides ``payload.PATH[op]``."""

JsonScalar = str | int | float | bool | None


def _type_pattern(value: object) -> str:
    try:
        return TypePattern.parse(str(value)).text  # query values are text
    except InvalidPattern as exc:
        raise PydanticCustomError(
            "event_type_pattern", "not a valid event-type pattern: {reason}", {"reason": exc.reason}
        ) from None


TypePatternText = Annotated[
    str,
    PlainValidator(_type_pattern),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_LENGTH, "pattern": SYNTAX}),
]
"""An event type or a pattern of them (``*`` one word, ``#`` any number of words), checked as it is read."""

Cursor = Annotated[str, WithJsonSchema(CURSOR_SCHEMA)]
"""A page position the API issued (the store refuses, 422, one it did not)."""


INT64 = 2**63
"""Payload integers are compared within 64 bits: SQLite's JSON functions hold no larger integer exactly."""


def _condition(name: str, text: str) -> Condition:
    """The condition ``name=text`` stands for; raises :class:`ApiError` naming the parameter and saying why."""
    where = f"query.{name}"
    if name == PAYLOAD_PREFIX:
        raise ApiError.at(422, where, "name a payload field, e.g. payload.store_id=s1")
    if "=" in name:  # the parser would read it as the end of the path
        raise ApiError.at(422, where, "a payload path holds no '=': name a field, e.g. payload.store_id=s1")
    try:
        condition = Condition.parse(f"{name}={text}")
    except InvalidCondition as exc:
        raise ApiError.at(422, where, exc.reason) from None
    value = condition.value
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        raise ApiError.at(422, where, f"{text} is beyond 64-bit integers, which are all a filter compares")
    return condition


def payload_conditions(query: QueryParams) -> tuple[Condition, ...]:
    """The ``payload.PATH[op]=value`` parameters of ``query``, in order; 422 naming each bad or repeated one."""
    found: dict[str, Condition] = {}
    issues: list[ValidationIssue] = []
    for name, text in query.multi_items():
        if not name.startswith(PAYLOAD_PREFIX):
            continue
        if name in found:
            repeated = "a field can equal one value" if found[name].operator is Operator.EQ else "give it once"
            issues.append(ValidationIssue(f"query.{name}", f"given more than once: {repeated}"))
            continue
        try:
            found[name] = _condition(name, text)
        except ApiError as exc:
            issues += exc.errors
    if issues:
        raise ApiError(422, issues)
    return tuple(found.values())


def payload_filters(query: QueryParams) -> dict[str, JsonScalar]:
    """The ``payload.FIELD=value`` equalities as field → value, for a route that takes no other condition.

    422 for a bad or repeated one, and for a condition with an operator or a nested path.
    """
    found: dict[str, JsonScalar] = {}
    for condition in payload_conditions(query):
        if condition.operator is not Operator.EQ or len(condition.path) != 1:
            name = condition.text.split("=", 1)[0]
            raise ApiError.at(422, f"query.{name}", "this route takes payload.FIELD=value equalities only")
        found[condition.path[0]] = condition.value
    return found


def only_query(*known: str, payload: bool = False) -> Callable[[Request], None]:
    """A dependency refusing (422) any query parameter but ``known`` (and ``payload.*`` when allowed)."""
    return query_params.only_query(*known, prefix=PAYLOAD_PREFIX if payload else None)


def event_filter(
    query: QueryParams,
    *,
    event_type: str | None,
    source_app: str | None,
    since: datetime | None,
    until: datetime | None,
    correlation_id: str | None,
    agent_name: str | None,
) -> EventFilter:
    """The :class:`EventFilter` of validated parameters plus the payload conditions of ``query``."""
    return EventFilter(
        event_type=event_type,
        source_app=source_app,
        since=since,
        until=until,
        correlation_id=correlation_id,
        agent_name=agent_name,
        conditions=payload_conditions(query),
    )


async def event_filter_query(
    request: Request,
    *,
    event_type: Annotated[
        TypePatternText | None,
        Query(description="exact type, or a pattern: `*` one word, `#` zero or more words (`retail.#`)"),
    ] = None,
    source_app: Annotated[str | None, Query(min_length=1, description="`source.app`")] = None,
    since: Annotated[Timestamp | None, Query(description="timestamp at or after (RFC 3339 with offset)")] = None,
    until: Annotated[Timestamp | None, Query(description="timestamp before (RFC 3339 with offset)")] = None,
    correlation_id: Annotated[
        str | None, Query(min_length=1, description="events naming this id among their parents")
    ] = None,
    agent_name: Annotated[str | None, Query(min_length=1, description="`agent_context.name`")] = None,
) -> EventFilter:
    """The filters of ``GET /events`` as a dependency: the routes that choose events alike declare them once."""
    return event_filter(
        request.query_params,
        event_type=event_type,
        source_app=source_app,
        since=since,
        until=until,
        correlation_id=correlation_id,
        agent_name=agent_name,
    )


class StreamQuery(BaseModel):
    """The filters of the live stream, read by hand (a WebSocket has no 422 answer)."""

    model_config = ConfigDict(extra="ignore")  # unknown names are refused before, with a better message

    event_type: TypePatternText | None = None
    source_app: str | None = Field(default=None, min_length=1)
    since: Timestamp | None = None
    until: Timestamp | None = None
    correlation_id: str | None = Field(default=None, min_length=1)
    agent_name: str | None = Field(default=None, min_length=1)


def parse_stream_filter(query: QueryParams) -> EventFilter:
    """The stream's :class:`EventFilter`; raises :class:`ApiError` naming each bad parameter."""
    if issues := query_params.query_issues(query, frozenset(EVENT_FILTER_NAMES), prefix=PAYLOAD_PREFIX):
        raise ApiError(422, issues)
    plain: Mapping[str, str] = {name: value for name, value in query.items() if not name.startswith(PAYLOAD_PREFIX)}
    try:
        parsed = StreamQuery.model_validate(plain)
    except ValidationError as exc:
        raise ApiError(422, issues_from_pydantic(exc.errors(), prefix=("query",))) from exc
    return EventFilter(**parsed.model_dump(), conditions=payload_conditions(query))
