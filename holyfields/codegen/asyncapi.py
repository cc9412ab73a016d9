"""Emitter for AsyncAPI 3.0: the Bloodbank bus as publishers and the platform's own consumers see it.

- One channel per event type: its address is the routing key on the topic exchange
  ``bloodbank.events.v1``, with a ``send`` operation (publish through Bloodbank).
- One channel per consumer queue of the platform (:data:`PLATFORM_CONSUMERS`), with a
  ``receive`` operation for the messages its binding keys route to it.
- Each message's payload is the envelope with ``payload`` narrowed to the event's schema;
  its headers are the AMQP headers Bloodbank sets (:data:`MESSAGE_HEADERS`), its correlation
  id the envelope's ``correlation_ids``, and its examples full envelopes around the schema's
  payload examples, with the headers Bloodbank publishes them with.

Examples are deterministic (ids and trace ids derive from the event type and the example's
index), so regenerating gives the same document.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import msgspec

from holyfields.catalog import Catalog
from holyfields.codegen.jsonschema import COMPONENTS, model_schema
from holyfields.codegen.tree import SchemaModule, build_modules
from holyfields.naming import ENVELOPE_ID, UUID_PATTERN, EventTypeName, pascal_case
from holyfields.wildcards import TypePattern

__all__ = [
    "EXCHANGE",
    "HEADERS_SCHEMA",
    "MESSAGE_HEADERS",
    "PLATFORM_CONSUMERS",
    "PlatformConsumer",
    "asyncapi_document",
    "emit_asyncapi",
]

EXCHANGE = "bloodbank.events.v1"
AMQP_BINDING_VERSION = "0.3.0"
HEADERS_SCHEMA = "BloodbankMessageHeaders"
"""The name of the headers schema among the document's component schemas."""
CORRELATION_ID = "causation"
"""The name of the envelope's correlation id among the document's components."""


@dataclass(frozen=True, slots=True)
class PlatformConsumer:
    """A consumer queue the platform itself declares and reads, bound to the main exchange by ``bindings``."""

    queue: str
    bindings: tuple[str, ...]
    summary: str


PLATFORM_CONSUMERS = (
    PlatformConsumer(
        "candystore.events",
        ("#",),
        "Candystore stores every event (acknowledged once committed) and serves it through its query, "
        "trace and live APIs.",
    ),
    PlatformConsumer(
        "visibility.detector",
        ("retail.#",),
        "The visibility detector evaluates the retail events for conflicts between teams and with the "
        "inventory's ground truth, and publishes the conflicts it finds.",
    ),
)
"""The queues of Bloodbank's shared topology and of the platform's services (tests compare them with both)."""

_UUID = UUID_PATTERN.removeprefix("^").removesuffix("$")
_TRACEPARENT = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

MESSAGE_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": (
        "AMQP headers Bloodbank sets on every message: the CloudEvents AMQP binding's application properties "
        "(a consumer that knows only CloudEvents reads the event from them), the W3C trace context of the "
        "publish span when tracing is on, and a signature when BLOODBANK_SIGNING_KEYS is set. A replayed "
        "event says so, and a dead-lettered copy (in dlq.all) says why it failed."
    ),
    "required": [
        "cloudEvents:specversion",
        "cloudEvents:id",
        "cloudEvents:type",
        "cloudEvents:source",
        "cloudEvents:time",
        "cloudEvents:dataschema",
    ],
    "properties": {
        "cloudEvents:specversion": {"type": "string", "const": "1.0", "description": "CloudEvents version."},
        "cloudEvents:id": {
            "type": "string",
            "minLength": 1,
            "description": "The CloudEvents id: the event_id, or the id the event was first sent with as a CloudEvent.",
        },
        "cloudEvents:type": {"type": "string", "description": "The event_type (also the routing key)."},
        "cloudEvents:source": {
            "type": "string",
            "minLength": 1,
            "description": "/{source.type}/{source.host}/{source.app}, percent-encoded, or the source the event was "
            "first sent with as a CloudEvent.",
        },
        "cloudEvents:time": {"type": "string", "format": "date-time", "description": "The envelope's timestamp."},
        "cloudEvents:dataschema": {
            "type": "string",
            "const": ENVELOPE_ID,
            "description": "The message body is the whole envelope, so its schema is the envelope schema.",
        },
        "cloudEvents:correlationids": {
            "type": "string",
            "pattern": f"^{_UUID}(,{_UUID})*$",
            "description": "The envelope's correlation_ids (the parent events), comma-separated; "
            "absent for a root event.",
        },
        "traceparent": {
            "type": "string",
            "pattern": _TRACEPARENT,
            "description": "W3C traceparent of the span that published the message (also in trace_context).",
        },
        "tracestate": {"type": "string", "maxLength": 512, "description": "W3C tracestate that came with the trace."},
        "x-bloodbank-key-id": {
            "type": "string",
            "description": "The id of the key in BLOODBANK_SIGNING_KEYS that signed the message.",
        },
        "x-bloodbank-signature": {
            "type": "string",
            "description": "Base64 HMAC-SHA256 over the exact message body, with the key named by x-bloodbank-key-id.",
        },
        "x-bloodbank-replay": {
            "type": "string",
            "description": "On a republished event only: 'dead-letter:{id}' for a replayed dead letter, 'candystore' "
            "for a stored event replayed from Candystore.",
        },
        "x-bloodbank-error": {
            "type": "string",
            "description": "On a dead-lettered copy only: the error's type and message.",
        },
        "x-bloodbank-consumer": {
            "type": "string",
            "description": "On a dead-lettered copy only: the consumer (queue) that failed to handle the message.",
        },
        "x-bloodbank-attempts": {
            "type": "integer",
            "minimum": 0,
            "description": "On a dead-lettered copy only: how many times the consumer tried.",
        },
        "x-bloodbank-failed-at": {
            "type": "string",
            "format": "date-time",
            "description": "On a dead-lettered copy only: when it was dead-lettered.",
        },
    },
}
"""The schema of the AMQP headers of every message (the ``headers`` of each AsyncAPI message)."""

_EXAMPLE_TIME = datetime(2026, 11, 2, 14, 3, 27, 512000, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXAMPLE_HOST = "worker-01"
_EXAMPLE_SOURCE_TYPE = "system"


def asyncapi_document(catalog: Catalog) -> str:
    """The AsyncAPI document of ``catalog``, as ``holyfields generate`` writes it."""
    return emit_asyncapi(build_modules(catalog))


def emit_asyncapi(modules: Iterable[SchemaModule], *, version: str = "1.0.0") -> str:
    modules = list(modules)
    envelope = next(m for m in modules if m.document.schema_id == ENVELOPE_ID)
    events = [(m.document.event_type, m) for m in modules if m.document.event_type is not None]
    schemas = {model.name: model_schema(model) for module in modules for model in module.models}
    schemas[HEADERS_SCHEMA] = MESSAGE_HEADERS
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for type_name, module in events:
        name, event_type = module.root.name, str(type_name)
        messages[name] = _message(type_name, module, envelope=envelope)
        channels[event_type] = _event_channel(event_type, module)
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "summary": f"Publish {event_type} through Bloodbank (persistent, confirmed).",
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{name}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    for consumer in PLATFORM_CONSUMERS:
        patterns = [TypePattern.parse(binding) for binding in consumer.bindings]
        routed = [m.root.name for type_name, m in events if any(p.matches(str(type_name)) for p in patterns)]
        channels[consumer.queue] = _queue_channel(consumer, routed)
        operations[f"receive{pascal_case(consumer.queue)}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{consumer.queue}"},
            "summary": consumer.summary,
            "messages": [{"$ref": f"#/channels/{consumer.queue}/messages/{name}"} for name in routed],
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "33GOD events",
            "version": version,
            "description": "Every event type published on the Bloodbank bus, and the platform's own consumers of "
            "them, generated from the Holyfields schemas. A message is the canonical envelope (JSON) with the "
            "event's payload inside.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "bloodbank": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": f"RabbitMQ behind Bloodbank; events go to the topic exchange {EXCHANGE}.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": dict(sorted(schemas.items())),
            "correlationIds": {
                CORRELATION_ID: {
                    "description": "The ids of the event's parent events (causation), empty for a root event; "
                    "Candystore's trace API follows them. The same ids travel in the cloudEvents:correlationids "
                    "header.",
                    "location": "$message.payload#/correlation_ids",
                }
            },
        },
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"


def _message(type_name: EventTypeName, module: SchemaModule, *, envelope: SchemaModule) -> dict[str, Any]:
    doc = module.document
    name, event_type = module.root.name, str(type_name)
    examples = []
    for index, payload in enumerate(doc.examples):
        example = _example_envelope(type_name, index, payload, envelope_version=envelope.document.version)
        examples.append(
            {
                "name": f"example-{index + 1}",
                "summary": f"Payload example {index + 1} of the schema, in a full envelope.",
                "headers": _example_headers(example),
                "payload": example,
            }
        )
    return {
        "name": event_type,
        "title": name,
        "summary": doc.description,
        "contentType": "application/json",
        "headers": {
            "allOf": [{"$ref": COMPONENTS + HEADERS_SCHEMA}],
            "properties": {"cloudEvents:type": {"const": event_type}},
        },
        "payload": {
            "allOf": [{"$ref": COMPONENTS + envelope.root.name}],
            "properties": {"event_type": {"const": event_type}, "payload": {"$ref": COMPONENTS + name}},
        },
        "correlationId": {"$ref": f"#/components/correlationIds/{CORRELATION_ID}"},
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING_VERSION}},
        "examples": examples,
        "x-version": doc.version,
        "x-owner": doc.owner,
        "x-status": doc.status,
    }


def _event_channel(event_type: str, module: SchemaModule) -> dict[str, Any]:
    name = module.root.name
    return {
        "address": event_type,
        "title": event_type,
        "description": module.document.description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_channel(consumer: PlatformConsumer, routed: list[str]) -> dict[str, Any]:
    keys = ", ".join(f"'{binding}'" for binding in consumer.bindings)
    return {
        "address": consumer.queue,
        "title": consumer.queue,
        "description": f"{consumer.summary} A quorum queue bound to {EXCHANGE} with {keys}; a message that fails "
        "is retried after 1 s, 2 s and 4 s, then dead-lettered to dlq.all with the reason.",
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in routed},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": consumer.queue,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
        "x-binding-keys": list(consumer.bindings),
    }


def _example_envelope(event_type: EventTypeName, index: int, payload: Any, *, envelope_version: str) -> dict[str, Any]:
    """A full envelope around ``payload``: a UUIDv7 id, one parent event, and the trace context of its publish span."""
    seed = f"{event_type}#{index}"
    moment = _EXAMPLE_TIME + timedelta(seconds=index)
    trace = hashlib.sha256(f"{seed}/trace".encode()).hexdigest()
    return {
        "event_id": _uuid7(moment, seed),
        "event_type": str(event_type),
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "version": envelope_version,
        "source": {"host": _EXAMPLE_HOST, "type": _EXAMPLE_SOURCE_TYPE, "app": event_type.domain},
        "correlation_ids": [_uuid7(moment - timedelta(seconds=1), f"{seed}/parent")],
        "payload": payload,
        "trace_context": {"trace_id": trace[:32], "span_id": trace[32:48], "trace_flags": "01"},
    }


def _example_headers(envelope: Mapping[str, Any]) -> dict[str, str]:
    """The headers Bloodbank publishes ``envelope`` with (tracing on, no signing keys)."""
    source = envelope["source"]
    trace = envelope["trace_context"]
    return {
        "cloudEvents:specversion": "1.0",
        "cloudEvents:id": envelope["event_id"],
        "cloudEvents:type": envelope["event_type"],
        "cloudEvents:source": "/"
        + "/".join(quote(part, safe="") for part in (source["type"], source["host"], source["app"])),
        "cloudEvents:time": envelope["timestamp"],
        "cloudEvents:dataschema": ENVELOPE_ID,
        "cloudEvents:correlationids": ",".join(envelope["correlation_ids"]),
        "traceparent": f"00-{trace['trace_id']}-{trace['span_id']}-{trace['trace_flags']}",
    }


def _uuid7(moment: datetime, seed: str) -> str:
    """A UUIDv7 for ``moment`` whose random bits are derived from ``seed`` (stable across runs)."""
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    bits = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    rand_a, rand_b = bits >> 68, bits & ((1 << 62) - 1)
    return str(uuid.UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b))
