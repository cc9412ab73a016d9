"""The schema registry over HTTP: a FastAPI router the Bloodbank gateway mounts (and ``33god up`` serves).

- ``GET /schemas``: the event types, filtered by ``domain``, ``owner`` and ``status``;
- ``GET /schemas/{event_type}``: one event type with its payload schema and examples;
- ``GET /schemas/{event_type}/versions``: the registered majors of that event (``….v1``, ``….v2``),
  oldest first: what a reader compares side by side;
- ``POST /schemas/{event_type}/compatibility``: a candidate schema classified against the registered
  one, by the code of ``holyfields diff`` (:mod:`holyfields.compat`);
- ``GET /asyncapi.json``: the AsyncAPI 3 document of the bus (:mod:`holyfields.codegen.asyncapi`).

A query parameter a route does not take is refused (422 naming it) rather than ignored, so a
misspelt filter never silently answers everything.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, with_config
from typing_extensions import TypedDict  # pydantic reads TypedDicts from typing only on Python 3.12+

from gumdrop.http_errors import ApiError, documented, json_response
from gumdrop.query_params import only_query
from gumdrop.strict_json import InvalidJson, decode_json
from holyfields.catalog import Catalog, SchemaDocument
from holyfields.codegen.asyncapi import asyncapi_document
from holyfields.compat import ChangeLevel, SchemaChange, SchemaDiff, candidate_issues, compare_schema
from holyfields.naming import EventTypeName

__all__ = ["CompatibilityAnswer", "RegistrySchema", "SchemaDetail", "SchemaStatus", "SchemaSummary", "schema_router"]

DOMAIN_PATTERN = "^[a-z][a-z0-9]*$"
OWNER_PATTERN = "^[a-z][a-z0-9-]*$"


class SchemaStatus(StrEnum):
    """Whether producers may still adopt an event type."""

    ACTIVE = "active"
    """In use: publish and consume it."""
    DEPRECATED = "deprecated"
    """Being replaced (see ``replaced_by``): still published during its notice period, then removed."""


class SchemaSummary(BaseModel):
    """One event type of the registry."""

    event_type: str = Field(examples=["fireflies.transcript.ready.v1"])
    title: str
    description: str
    version: str = Field(description="x-version: semver within the major of the event type")
    owner: str
    status: str = Field(description="active or deprecated")
    deprecated_since: str | None = None
    replaced_by: str | None = None
    schema_id: str

    @classmethod
    def of(cls, doc: SchemaDocument) -> SchemaSummary:
        return cls(
            event_type=str(doc.event_type),
            title=doc.title,
            description=doc.description,
            version=doc.version,
            owner=doc.owner,
            status=doc.status,
            deprecated_since=doc.deprecated_since,
            replaced_by=doc.replaced_by,
            schema_id=doc.schema_id,
        )


_JsonType = Literal["array", "boolean", "integer", "null", "number", "object", "string"]
_Subschema = Union["RegistrySchema", bool]
_UNIQUE = {"uniqueItems": True}

RegistrySchema = TypedDict(
    "RegistrySchema",
    {
        "$schema": Literal["http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema"],
        "$id": str,
        "$ref": str,
        "title": str,
        "description": str,
        "examples": list[Any],
        "default": Any,
        "definitions": dict[str, _Subschema],
        "type": _JsonType | Annotated[list[_JsonType], Field(min_length=1, json_schema_extra=_UNIQUE)],
        "properties": dict[str, _Subschema],
        "required": Annotated[list[str], Field(json_schema_extra=_UNIQUE)],
        "additionalProperties": bool,
        "items": _Subschema,
        "enum": list[Any],
        "const": Any,
        "pattern": str,
        "format": str,
        "minLength": NonNegativeInt,
        "maxLength": NonNegativeInt,
        "minItems": NonNegativeInt,
        "maxItems": NonNegativeInt,
        "minimum": float,
        "maximum": float,
        "exclusiveMinimum": float,
        "exclusiveMaximum": float,
        "uniqueItems": bool,
        "x-version": Any,
        "x-owner": Any,
        "x-status": Any,
        "x-deprecated-since": Any,
        "x-replaced-by": Any,
    },
    total=False,
)
"""A JSON Schema (draft-07) as the registry has them: these keywords only, in every subschema.

It documents what ``POST /schemas/{event_type}/compatibility`` takes, exactly what
:func:`holyfields.compat.candidate_issues` accepts (a test holds the two together).
"""
with_config(ConfigDict(extra="forbid"))(RegistrySchema)


class SchemaDetail(SchemaSummary):
    """An event type with its payload schema (JSON Schema draft-07) and examples."""

    json_schema: RegistrySchema = Field(alias="schema", serialization_alias="schema")
    examples: list[Any]


class SchemaList(BaseModel):
    items: list[SchemaSummary]


class ClassifiedChange(BaseModel):
    """One difference between the registered schema and the candidate."""

    path: str = Field(description="Where in the schema (JSON path)", examples=["$.properties.meeting_url"])
    level: Literal["patch", "minor", "major"]
    message: str = Field(examples=["new required field 'meeting_url'"])

    @classmethod
    def of(cls, change: SchemaChange) -> ClassifiedChange:
        return cls.model_validate({"path": change.path, "level": str(change.level), "message": change.message})


class CompatibilityAnswer(BaseModel):
    """How a candidate schema differs from the registered one, classified as ``holyfields diff`` does."""

    event_type: str = Field(examples=["fireflies.transcript.ready.v1"])
    level: Literal["none", "patch", "minor", "major"] = Field(
        description="The largest change, i.e. the part of x-version it needs bumped; none when nothing changed"
    )
    compatible: bool = Field(
        description="No breaking change: consumers of the registered schema read events of the candidate "
        "(false for a major change, which needs a new event type vN+1)"
    )
    ok: bool = Field(
        description="No versioning error: `holyfields diff` would pass with the candidate in place of the registered "
        "schema (x-version bumped enough, no breaking change inside the vN)"
    )
    registered_version: str | None = Field(description="x-version of the registered schema", examples=["1.0.0"])
    candidate_version: str | None = Field(description="x-version the candidate declares", examples=["1.1.0"])
    breaking_changes: list[ClassifiedChange] = Field(description="The major changes")
    other_changes: list[ClassifiedChange] = Field(description="The patch and minor changes")
    problems: list[str] = Field(description="Versioning errors, as `holyfields diff` prints them")

    @classmethod
    def of(cls, event_type: str, diff: SchemaDiff) -> CompatibilityAnswer:
        return cls.model_validate(
            {
                "event_type": event_type,
                "level": str(diff.level),
                "compatible": diff.level < ChangeLevel.MAJOR,
                "ok": not diff.problems,
                "registered_version": diff.old_version,
                "candidate_version": diff.new_version,
                "breaking_changes": [ClassifiedChange.of(c) for c in diff.changes if c.level is ChangeLevel.MAJOR],
                "other_changes": [ClassifiedChange.of(c) for c in diff.changes if c.level < ChangeLevel.MAJOR],
                "problems": diff.problems,
            }
        )


_CANDIDATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The candidate payload schema itself, as its .schema.json file would hold it",
        "content": {
            "application/json": {
                # The component comes with SchemaDetail (GET /schemas/{event_type}), whose schema is one too.
                "schema": {"$ref": "#/components/schemas/RegistrySchema"},
                "example": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["meeting_id"],
                    "properties": {
                        "meeting_id": {"type": "string", "description": "Meeting that ended."},
                        "notes": {"type": "string", "description": "Free-text notes (new, optional)."},
                    },
                    "x-version": "1.1.0",
                },
            }
        },
    }
}

_ASYNCAPI_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The AsyncAPI 3.0.0 document: a channel and a send operation per event type, a receive "
        "operation per platform consumer, full envelopes as examples",
        "content": {"application/json": {"schema": {"type": "object", "required": ["asyncapi", "info"]}}},
    }
}


def schema_router(catalog: Catalog) -> APIRouter:
    """Routes that serve ``catalog``; the catalog is loaded once, by the caller."""
    router = APIRouter(tags=["schemas"])

    @functools.cache
    def asyncapi() -> bytes:  # rendered on the first request: most gateways are never asked
        return asyncapi_document(catalog).encode()

    @router.get(
        "/schemas",
        response_model=SchemaList,
        summary="List the event types",
        operation_id="listSchemas",
        dependencies=[Depends(only_query("domain", "owner", "status"))],
        responses={422: documented("A filter is malformed, or a query parameter is not one of this route's")},
    )
    def list_schemas(
        domain: Annotated[
            str | None, Query(pattern=DOMAIN_PATTERN, description="Only this domain's event types, e.g. `retail`")
        ] = None,
        owner: Annotated[
            str | None,
            Query(
                pattern=OWNER_PATTERN,
                description="Only the event types this team owns (x-owner), e.g. `retail-platform`",
            ),
        ] = None,
        status: Annotated[
            SchemaStatus | None, Query(description="Only active, or only deprecated, event types")
        ] = None,
    ) -> SchemaList:
        docs = [
            doc
            for doc in catalog.payload_schemas()
            if (domain is None or (doc.event_type is not None and doc.event_type.domain == domain))
            and (owner is None or doc.owner == owner)
            and (status is None or doc.status == status)
        ]
        return SchemaList(items=[SchemaSummary.of(doc) for doc in docs])

    @router.get(
        "/schemas/{event_type}",
        response_class=Response,
        dependencies=[Depends(only_query())],
        responses={
            200: {"model": SchemaDetail, "description": "The event type, its schema exactly as registered"},
            404: {"description": "No schema is registered for this event type"},
            422: documented("A query parameter was given: this route takes none"),
        },
        summary="One event type with its payload schema",
        operation_id="getSchema",
    )
    def get_schema(event_type: str) -> Response:
        doc = _registered(catalog, event_type)
        summary = SchemaSummary.of(doc).model_dump()
        # Encoded as stored (numbers exactly as written), not re-validated: the schema is the registry's own.
        return json_response(200, {**summary, "schema": doc.content, "examples": doc.examples})

    @router.get(
        "/schemas/{event_type}/versions",
        response_model=SchemaList,
        dependencies=[Depends(only_query())],
        responses={
            404: documented("No schema is registered for this event type"),
            422: documented("A query parameter was given: this route takes none"),
        },
        summary="The registered majors of one event, oldest first",
        description="Every event type that differs from this one only in its major (`….v1`, `….v2`): a breaking "
        "change registers the next major beside the old one. Each is listed with its x-version and status.",
        operation_id="listSchemaVersions",
    )
    def list_versions(event_type: str) -> SchemaList:
        name = _registered(catalog, event_type).event_type
        majors = [doc for doc in catalog.payload_schemas() if name is not None and _same_event(doc, name)]
        return SchemaList(items=[SchemaSummary.of(doc) for doc in sorted(majors, key=_major)])

    @router.post(
        "/schemas/{event_type}/compatibility",
        response_model=CompatibilityAnswer,
        dependencies=[Depends(only_query())],
        responses={
            404: documented("No schema is registered for this event type"),
            422: documented(
                "The body is not a JSON Schema object, not a valid draft-07 schema, or holds what the registry's "
                "schemas never do (another keyword, a list of item schemas, a schema as additionalProperties): "
                "each problem at its JSON path in the body"
            ),
        },
        summary="Classify a candidate schema against the registered one (patch, minor, major)",
        description="Answers what `holyfields diff` would say of the candidate in place of the registered schema: "
        "the level of the largest change, the breaking and the other changes with their JSON paths, and whether "
        "the candidate's x-version is bumped as the changes need. Nothing is stored.",
        operation_id="checkSchemaCompatibility",
        openapi_extra=_CANDIDATE_BODY,
    )
    async def check_compatibility(event_type: str, request: Request) -> CompatibilityAnswer:
        doc = _registered(catalog, event_type)
        body = await request.body()
        if not body:
            raise ApiError.about_request(422, "send the candidate schema as the JSON body")
        try:
            candidate = decode_json(body)
        except InvalidJson as exc:
            raise ApiError.at(422, exc.path, exc.message) from None
        if issues := candidate_issues(candidate):
            raise ApiError(422, issues)
        return CompatibilityAnswer.of(event_type, compare_schema(str(doc.path), doc.content, candidate))

    @router.get(
        "/asyncapi.json",
        tags=["asyncapi"],
        response_class=Response,
        dependencies=[Depends(only_query())],
        responses={**_ASYNCAPI_ANSWER, 422: documented("A query parameter was given: this route takes none")},
        summary="The AsyncAPI 3 document of the bus",
        operation_id="getAsyncApi",
    )
    def get_asyncapi() -> Response:
        return Response(asyncapi(), media_type="application/json")

    return router


def _same_event(doc: SchemaDocument, name: EventTypeName) -> bool:
    """Whether ``doc`` is a major of the event ``name`` is one of (the same domain, resource and action)."""
    other = doc.event_type
    return other is not None and (other.domain, other.resource, other.action) == (
        name.domain,
        name.resource,
        name.action,
    )


def _major(doc: SchemaDocument) -> int:
    return doc.event_type.major if doc.event_type is not None else 0


def _registered(catalog: Catalog, event_type: str) -> SchemaDocument:
    doc = catalog.get(event_type)
    if doc is None:
        raise HTTPException(404, f"unknown event type {event_type!r}: see GET /schemas for the registered ones")
    return doc
