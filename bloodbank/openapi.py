"""What the platform's OpenAPI documents share: timestamps, cursors, and the typed bodies of published events.

The schemas of :mod:`holyfields` are JSON Schema draft-07 documents with local
``#/definitions/…`` references and absolute ``$id`` references between files; an OpenAPI 3.1
document keeps its schemas under ``components/schemas``. :func:`event_components` rewrites
the catalog into components: one payload schema and one event schema per event type, and
``Event``, the ``oneOf`` over them that ``POST /events`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from holyfields import Catalog
from holyfields.catalog import SchemaDocument
from holyfields.timestamps import InvalidTimestamp, parse_timestamp

__all__ = [
    "AGENT_CONTEXT_FORMAT",
    "CLOUD_EVENT",
    "CURSOR_SCHEMA",
    "EVENT",
    "TIMESTAMP_PATTERN",
    "TIMESTAMP_SCHEMA",
    "Timestamp",
    "event_components",
    "reference",
]

_DAY = r"(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
TIMESTAMP_PATTERN = (
    # An offset that moves the first or last day of the range out of it is refused on those two days.
    r"^(?!1970-01-01[Tt][^+]*\+(?!00:00)|9999-12-31[Tt][^-]*-(?!00:00))"
    rf"(?:19[7-9][0-9]|[2-9][0-9]{{3}})-{_DAY}[Tt]{_TIME}{_OFFSET}$"
)
"""The timestamps :mod:`holyfields.timestamps` accepts, as a regular expression (with ``format: date-time``).

RFC 3339 with an offset, ``T``/``Z`` in either case, at most six fractional digits, no leap
second, years 1970 to 9999. On 1970-01-01 and 9999-12-31 it asks for an offset that cannot
leave the range (``Z``, ``±00:00``, or one pointing into the range).
"""

TIMESTAMP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": TIMESTAMP_PATTERN,
    "description": "RFC 3339 with an offset (`2026-11-02T14:03:27Z`), at most microseconds, no leap second, "
    "within the years 1970 to 9999 in UTC",
}
"""A timestamp as every API of the platform reads it."""


def _timestamp(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except InvalidTimestamp as exc:
            raise PydanticCustomError("timestamp", "{reason}", {"reason": str(exc)}) from None
    raise PydanticCustomError("timestamp", "expected a timestamp with an offset, e.g. '2026-11-02T14:03:27Z'")


Timestamp = Annotated[datetime, PlainValidator(_timestamp), WithJsonSchema(TIMESTAMP_SCHEMA)]
"""A parameter or field holding a time: read by :mod:`holyfields.timestamps` (RFC 3339 with an offset, UTC
years 1970 to 9999), documented by :data:`TIMESTAMP_SCHEMA`; anything else is a 422 saying why."""

CURSOR_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "x-cursor",
    "minLength": 1,
    "description": "the `next_cursor` of the previous page, unchanged (a cursor the API did not issue is a 422)",
}
"""An opaque page position issued by the API (format ``x-cursor``)."""

EVENT = "Event"
"""The component ``POST /events`` takes: one of the registered event types."""

CLOUD_EVENT = "CloudEvent"
"""The component ``POST /events`` takes as ``application/cloudevents+json``: a CloudEvent of a registered type."""

AGENT_CONTEXT_FORMAT = "x-agent-context"
"""The ``agentcontext`` extension's format: an agent context (the envelope's ``agent_context``) as JSON text."""

_UUID_TEXT = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_OMITTED = frozenset(("$schema", "$id", "definitions"))
_ENVELOPE_OPTIONAL = ("event_id", "timestamp", "version", "source", "correlation_ids", "agent_context", "trace_context")


def reference(name: str) -> dict[str, str]:
    """A ``$ref`` to the component ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _component_name(document: SchemaDocument) -> str:
    """``retail.offer.surfaced.v1`` → ``RetailOfferSurfacedV1``; a core schema by its title (``Source``)."""
    if document.event_type is None:
        return document.title
    return "".join(word[:1].upper() + word[1:] for word in str(document.event_type).replace("_", ".").split("."))


class _Rewriter:
    """Copies draft-07 schemas into OpenAPI components, rewriting their references."""

    def __init__(self, catalog: Catalog) -> None:
        self.by_id = {document.schema_id: _component_name(document) for document in catalog.core}
        self.components: dict[str, Any] = {}

    def add(self, document: SchemaDocument, name: str) -> None:
        """``document`` as component ``name``, its definitions as ``{name}{Definition}``."""
        for definition, schema in document.content.get("definitions", {}).items():
            self.components[f"{name}{definition}"] = self.copy(schema, prefix=name)
        self.components[name] = self.copy(document.content, prefix=name)

    def copy(self, node: Any, *, prefix: str) -> Any:
        if isinstance(node, list):
            return [self.copy(item, prefix=prefix) for item in node]
        if not isinstance(node, Mapping):
            return node
        copied = {key: self.copy(value, prefix=prefix) for key, value in node.items() if key not in _OMITTED}
        target = node.get("$ref")
        if isinstance(target, str):
            copied["$ref"] = reference(
                f"{prefix}{target.removeprefix('#/definitions/')}" if target.startswith("#/") else self.by_id[target]
            )["$ref"]
        if node.get("format") == "date-time":
            copied["pattern"] = TIMESTAMP_PATTERN
        return copied


def event_components(catalog: Catalog) -> dict[str, Any]:
    """The ``components/schemas`` of the events of ``catalog``: ``Event`` and what it refers to."""
    rewriter = _Rewriter(catalog)
    for document in catalog.core:
        if document.schema_id != catalog.envelope.schema_id:
            rewriter.add(document, _component_name(document))
    envelope = rewriter.copy(catalog.envelope.content, prefix="")
    optional = {field: envelope["properties"][field] for field in _ENVELOPE_OPTIONAL}
    variants: dict[str, str] = {}
    for document in catalog.payload_schemas():
        name = _component_name(document)
        rewriter.add(document, f"{name}Payload")
        rewriter.components[f"{name}Event"] = {
            "type": "object",
            "title": f"{document.event_type} event",
            "description": document.description,
            "additionalProperties": False,
            "required": ["event_type", "payload"],
            "properties": {
                "event_type": {"type": "string", "const": str(document.event_type)},
                "payload": reference(f"{name}Payload"),
                **optional,
            },
        }
        rewriter.components[f"{name}CloudEvent"] = _cloud_event(document, f"{name}Payload")
        variants[str(document.event_type)] = f"{name}Event"
    rewriter.components[EVENT] = {
        "description": "One event: `event_type` and its `payload`, and any other envelope field; the gateway fills "
        "in `event_id` (UUIDv7), `timestamp` (now), `version`, `source` and `correlation_ids` ([]).",
        "oneOf": [reference(name) for name in variants.values()],
        "discriminator": {
            "propertyName": "event_type",
            "mapping": {event_type: reference(name)["$ref"] for event_type, name in variants.items()},
        },
    }
    rewriter.components[CLOUD_EVENT] = {
        "description": "One CloudEvent 1.0 in structured mode, mapped to the envelope as design.md says (Interop); "
        "extension attributes the envelope has no field for are kept with the event.",
        "oneOf": [reference(f"{name.removesuffix('Event')}CloudEvent") for name in variants.values()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                event_type: reference(f"{name.removesuffix('Event')}CloudEvent")["$ref"]
                for event_type, name in variants.items()
            },
        },
    }
    return rewriter.components


def _cloud_event(document: SchemaDocument, payload: str) -> dict[str, Any]:
    """The structured CloudEvent of one event type, as :mod:`bloodbank.cloudevents` maps it to the envelope.

    Optional attributes may be null (the JSON event format reads null as absent).
    """
    optional: dict[str, Any] = {
        "time": {**TIMESTAMP_SCHEMA, "type": ["string", "null"]},
        "datacontenttype": {"enum": ["application/json", None]},
        "dataschema": {"enum": [document.schema_id, None]},
        "subject": {"type": ["string", "number", "boolean", "null"]},
        "correlationids": {
            "type": ["string", "null"],
            "pattern": f"^(?:{_UUID_TEXT}(?:,{_UUID_TEXT})*)?$",
            "description": "the parent event ids, comma-separated",
        },
        "agentcontext": {
            "type": ["string", "null"],
            "format": AGENT_CONTEXT_FORMAT,
            "contentMediaType": "application/json",
            "description": "the agent context (the envelope's `agent_context`) as JSON text",
        },
        "traceparent": {"type": ["string", "null"], "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
        "tracestate": {
            "type": ["string", "null"],
            "maxLength": 512,
            "description": "W3C tracestate, read with a traceparent (without one it is discarded, as W3C says)",
        },
    }
    return {
        "type": "object",
        "title": f"{document.event_type} as a CloudEvent",
        "required": ["specversion", "id", "type", "source", "data"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "minLength": 1, "description": "a UUID is the event_id; any other id is kept"},
            "type": {"type": "string", "const": str(document.event_type)},
            "source": {
                "type": "string",
                "minLength": 1,
                "description": "`/{source.type}/{source.host}/{source.app}`, or any other URI (kept as sent)",
            },
            "data": reference(payload),
            **optional,
        },
        "propertyNames": {"pattern": "^(?:[a-z0-9]{1,20}|data)$"},
        "additionalProperties": {
            "type": ["string", "number", "boolean", "null"],
            "description": "another extension attribute, kept with the event",
        },
    }
