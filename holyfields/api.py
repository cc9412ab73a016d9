"""The schema registry over HTTP: a FastAPI router with ``GET /schemas`` and ``GET /schemas/{event_type}``.

``33god up`` serves it; the Bloodbank gateway mounts the same router.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from holyfields.catalog import Catalog, SchemaDocument

__all__ = ["SchemaDetail", "SchemaSummary", "schema_router"]


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


class SchemaDetail(SchemaSummary):
    """An event type with its payload schema (JSON Schema draft-07) and examples."""

    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    examples: list[Any]


class SchemaList(BaseModel):
    items: list[SchemaSummary]


def schema_router(catalog: Catalog) -> APIRouter:
    """Routes that serve ``catalog``; the catalog is loaded once, by the caller."""
    router = APIRouter(prefix="/schemas", tags=["schemas"])

    @router.get("", response_model=SchemaList, summary="List every event type", operation_id="listSchemas")
    def list_schemas() -> SchemaList:
        return SchemaList(items=[SchemaSummary.of(doc) for doc in catalog.payload_schemas()])

    @router.get(
        "/{event_type}",
        response_model=SchemaDetail,
        response_model_by_alias=True,
        responses={404: {"description": "No schema is registered for this event type"}},
        summary="One event type with its payload schema",
        operation_id="getSchema",
    )
    def get_schema(event_type: str) -> SchemaDetail:
        doc = catalog.get(event_type)
        if doc is None:
            raise HTTPException(404, f"unknown event type {event_type!r}: see GET /schemas for the registered ones")
        summary = SchemaSummary.of(doc).model_dump()
        return SchemaDetail.model_validate({**summary, "schema": dict(doc.content), "examples": doc.examples})

    return router
