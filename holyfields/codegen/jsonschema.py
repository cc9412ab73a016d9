"""Emitter back to JSON Schema, from the tree: the schemas of the AsyncAPI document.

Every model becomes one named schema, references point at ``#/components/schemas``;
emitting from the tree (not copying the files) proves the tree lost nothing.
"""

from __future__ import annotations

from typing import Any

from holyfields.codegen.tree import ArrayNode, Field, FreeObjectNode, Model, RefNode, ScalarNode, TypeNode

__all__ = ["model_schema"]

COMPONENTS = "#/components/schemas/"


def _scalar(node: ScalarNode) -> dict[str, Any]:
    keywords = {
        "format": node.format,
        "pattern": node.pattern,
        "enum": list(node.enum) if node.enum else None,
        "minLength": node.min_length,
        "maxLength": node.max_length,
        "minimum": node.minimum,
        "maximum": node.maximum,
        "exclusiveMinimum": node.exclusive_minimum,
        "exclusiveMaximum": node.exclusive_maximum,
    }
    out: dict[str, Any] = {"type": node.kind} | {key: value for key, value in keywords.items() if value is not None}
    if node.has_const:
        out["const"] = node.const
    return out


def type_schema(node: TypeNode) -> dict[str, Any]:
    if isinstance(node, RefNode):
        return {"$ref": COMPONENTS + node.name}
    if isinstance(node, FreeObjectNode):
        return {"type": "object"}
    if isinstance(node, ArrayNode):
        out: dict[str, Any] = {"type": "array", "items": type_schema(node.items)}
        if node.min_items is not None:
            out["minItems"] = node.min_items
        if node.max_items is not None:
            out["maxItems"] = node.max_items
        if node.unique:
            out["uniqueItems"] = True
        return out
    return _scalar(node)


def _field_schema(field: Field) -> dict[str, Any]:
    schema = type_schema(field.type)
    if field.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]} if "$ref" in schema or "type" not in schema else schema
        if "type" in schema:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
    if field.description:
        schema = {**schema, "description": field.description}
    if field.has_default:
        schema["default"] = field.default
    return schema


def model_schema(model: Model) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if model.description:
        schema["description"] = model.description
    schema["properties"] = {field.name: _field_schema(field) for field in model.fields}
    required = [field.name for field in model.fields if field.required]
    if required:
        schema["required"] = required
    if model.closed:
        schema["additionalProperties"] = False
    return schema
