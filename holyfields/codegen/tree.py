"""The typed intermediate tree every emitter works from.

:func:`build_modules` parses the catalog once into :class:`SchemaModule`\\ s: one per
schema file, each with its :class:`Model`\\ s (nested definitions first, the root
last) whose fields carry a :data:`TypeNode`. Emitters (TypeScript, Zod, SQL,
AsyncAPI) read only this tree, never raw JSON Schema. The tree covers the keyword
subset that ``holyfields validate`` allows (``lint.SUPPORTED_KEYWORDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from holyfields.catalog import Catalog, SchemaDocument
from holyfields.naming import pascal_case

__all__ = [
    "ArrayNode",
    "Field",
    "FreeObjectNode",
    "Model",
    "RefNode",
    "ScalarNode",
    "SchemaModule",
    "TypeNode",
    "build_modules",
]

_NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class ScalarNode:
    """A string, integer, number or boolean with its constraints."""

    kind: str
    format: str | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    const: Any = _NO_DEFAULT
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None

    @property
    def has_const(self) -> bool:
        return self.const is not _NO_DEFAULT


@dataclass(frozen=True, slots=True)
class ArrayNode:
    items: TypeNode
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False


@dataclass(frozen=True, slots=True)
class RefNode:
    """A reference to another model, by its generated name."""

    name: str


@dataclass(frozen=True, slots=True)
class FreeObjectNode:
    """A free-form JSON object (no declared properties)."""


TypeNode = ScalarNode | ArrayNode | RefNode | FreeObjectNode


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: TypeNode
    required: bool
    nullable: bool
    description: str
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


@dataclass(frozen=True, slots=True)
class Model:
    """An object type with declared fields; ``closed`` when additional properties are refused."""

    name: str
    description: str
    fields: tuple[Field, ...]
    closed: bool


@dataclass(frozen=True, slots=True)
class SchemaModule:
    """One schema file: its document and the models it defines, dependencies first."""

    document: SchemaDocument
    models: tuple[Model, ...]
    refs: tuple[str, ...] = field(default=())

    @property
    def root(self) -> Model:
        return self.models[-1]


def build_modules(catalog: Catalog) -> list[SchemaModule]:
    """Parse every schema of the catalog: core schemas first, then payloads by event type."""
    names = {doc.schema_id: _root_name(doc) for doc in catalog.documents}
    documents = {doc.schema_id: doc.content for doc in catalog.documents}
    modules = [_ModuleBuilder(doc, names, documents).build() for doc in [*catalog.core, *catalog.payload_schemas()]]
    # A module comes after the modules it references, so emitters can define before use.
    ordered: list[SchemaModule] = []
    pending = modules
    while pending:
        done = {m.document.schema_id for m in ordered}
        ready = [m for m in pending if set(m.refs) <= done] or pending[:1]
        ordered.extend(ready)
        pending = [m for m in pending if m not in ready]
    return ordered


def _root_name(doc: SchemaDocument) -> str:
    return doc.event_type.class_name if doc.event_type else pascal_case(doc.title)


class _ModuleBuilder:
    def __init__(
        self, doc: SchemaDocument, names: Mapping[str, str], documents: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.doc = doc
        self.documents = documents
        self.names = names
        self.root_name = names[doc.schema_id]
        self.models: dict[str, Model] = {}
        self._building: set[str] = set()
        self.refs: set[str] = set()

    def build(self) -> SchemaModule:
        definitions = self.doc.content.get("definitions", {})
        for key in definitions:
            self._model(self._definition_name(key), definitions[key])
        root = self._model(self.root_name, self.doc.content)
        ordered = [m for m in self.models.values() if m.name != root.name] + [root]
        return SchemaModule(self.doc, tuple(ordered), tuple(sorted(self.refs)))

    def _definition_name(self, key: str) -> str:
        return self.root_name + pascal_case(key)

    def _model(self, name: str, schema: Mapping[str, Any]) -> Model:
        if name in self.models:
            return self.models[name]
        self._building.add(name)
        required = set(schema.get("required", []))
        fields = tuple(
            self._field(name, prop, sub, prop in required) for prop, sub in schema.get("properties", {}).items()
        )
        model = Model(name, str(schema.get("description", "")), fields, schema.get("additionalProperties") is False)
        self.models[name] = model
        return model

    def _field(self, owner: str, name: str, schema: Mapping[str, Any], required: bool) -> Field:
        types = schema.get("type")
        nullable = isinstance(types, list) and "null" in types
        description = str(schema.get("description", ""))
        if "$ref" in schema and not description:
            target = self._resolve(schema["$ref"])
            description = str(target.get("description", "")) if target else ""
        node = self._type(owner + pascal_case(name), schema)
        default = schema.get("default", _NO_DEFAULT)
        return Field(name, node, required, nullable, description, default)

    def _resolve(self, ref: str) -> Mapping[str, Any] | None:
        if ref.startswith("#/definitions/"):
            found = self.doc.content.get("definitions", {}).get(ref.removeprefix("#/definitions/"))
            return found if isinstance(found, Mapping) else None
        return self.documents.get(ref)

    def _type(self, inline_name: str, schema: Mapping[str, Any]) -> TypeNode:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref.startswith("#/definitions/"):
                key = ref.removeprefix("#/definitions/")
                name = self._definition_name(key)
                if name not in self._building:  # build it first, so models come after what they use
                    self._model(name, self.doc.content.get("definitions", {})[key])
                return RefNode(name)
            self.refs.add(ref)
            return RefNode(self.names[ref])
        types = schema.get("type")
        kind = next((t for t in types if t != "null"), "string") if isinstance(types, list) else types
        if kind is None and "enum" in schema:
            kind = "string"
        if kind == "object":
            if "properties" not in schema:
                return FreeObjectNode()
            return RefNode(self._model(inline_name, schema).name)
        if kind == "array":
            items = schema.get("items", {})
            return ArrayNode(
                self._type(inline_name + "Item", items),
                schema.get("minItems"),
                schema.get("maxItems"),
                bool(schema.get("uniqueItems", False)),
            )
        enum = schema.get("enum")
        return ScalarNode(
            kind=str(kind),
            format=schema.get("format"),
            pattern=schema.get("pattern"),
            enum=tuple(e for e in enum if e is not None) if isinstance(enum, list) else None,
            const=schema.get("const", _NO_DEFAULT),
            min_length=schema.get("minLength"),
            max_length=schema.get("maxLength"),
            minimum=schema.get("minimum"),
            maximum=schema.get("maximum"),
            exclusive_minimum=schema.get("exclusiveMinimum"),
            exclusive_maximum=schema.get("exclusiveMaximum"),
        )
