"""Emitter for AsyncAPI 3.0: one channel per event type on the ``bloodbank.events.v1`` topic exchange.

The channel address is the routing key (the event type); the AMQP bindings say how
the exchange is declared and that messages are persistent; each message's payload is
the envelope with ``payload`` narrowed to the event's schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from holyfields.codegen.jsonschema import COMPONENTS, model_schema
from holyfields.codegen.tree import SchemaModule
from holyfields.naming import ENVELOPE_ID

__all__ = ["EXCHANGE", "emit_asyncapi"]

EXCHANGE = "bloodbank.events.v1"
AMQP_BINDING_VERSION = "0.3.0"


def emit_asyncapi(modules: Iterable[SchemaModule], *, version: str = "1.0.0") -> str:
    modules = list(modules)
    envelope = next(m for m in modules if m.document.schema_id == ENVELOPE_ID).root.name
    schemas = {model.name: model_schema(model) for module in modules for model in module.models}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for module in modules:
        event_type = module.document.event_type
        if event_type is None:
            continue
        name = module.root.name
        doc = module.document
        messages[name] = {
            "name": str(event_type),
            "title": name,
            "summary": doc.description,
            "contentType": "application/json",
            "payload": {
                "allOf": [{"$ref": COMPONENTS + envelope}],
                "properties": {"event_type": {"const": str(event_type)}, "payload": {"$ref": COMPONENTS + name}},
            },
            "bindings": {"amqp": {"messageType": str(event_type), "bindingVersion": AMQP_BINDING_VERSION}},
            "examples": [{"name": f"example-{i + 1}", "payload": example} for i, example in enumerate(doc.examples)],
            "x-version": doc.version,
            "x-owner": doc.owner,
            "x-status": doc.status,
        }
        channels[str(event_type)] = {
            "address": str(event_type),
            "title": str(event_type),
            "description": doc.description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "summary": f"Publish {event_type} through Bloodbank (persistent, confirmed).",
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{name}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "33GOD events",
            "version": version,
            "description": "Every event type published on the Bloodbank bus, generated from the Holyfields schemas.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "bloodbank": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ behind Bloodbank; events go to the topic exchange bloodbank.events.v1.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"
