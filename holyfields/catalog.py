"""The schemas on disk: reading them, and the catalog of event types they define.

Layout under the schema root (design.md)::

    core/event-envelope.v1.schema.json, core/source.v1.schema.json, core/agent-context.v1.schema.json
    {domain}/{resource}.{action}.v{N}.schema.json      one payload schema per event type

Exceptions::

    CatalogError               the schemas cannot be loaded; ``problems`` lists every file and why
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from holyfields.naming import ENVELOPE_ID, EventTypeName, InvalidEventTypeName, schema_id_for

__all__ = [
    "Catalog",
    "CatalogError",
    "RawSchemaFile",
    "SchemaDocument",
    "default_catalog",
    "default_schema_root",
    "read_schema_files",
]

CORE_DIR = "core"


def default_schema_root() -> Path:
    """The schemas shipped inside the ``holyfields`` package."""
    return Path(__file__).parent / "schemas"


@dataclass(frozen=True, slots=True)
class RawSchemaFile:
    """One ``*.schema.json`` file as read: its content, or why it could not be parsed."""

    path: PurePosixPath
    content: dict[str, Any] | None
    error: str | None = None


def read_schema_files(root: Path) -> Iterator[RawSchemaFile]:
    """Every schema file under ``root``, sorted by path, parsed or with its parse error."""
    for file in sorted(root.rglob("*.schema.json")):
        relative = PurePosixPath(file.relative_to(root).as_posix())
        try:
            content = msgspec.json.decode(file.read_bytes())
        except msgspec.DecodeError as exc:
            yield RawSchemaFile(relative, None, f"invalid JSON: {exc}")
            continue
        if not isinstance(content, dict):
            yield RawSchemaFile(relative, None, f"a schema must be a JSON object, got {type(content).__name__}")
            continue
        yield RawSchemaFile(relative, content)


@dataclass(frozen=True, slots=True)
class SchemaDocument:
    """A parsed schema file and the metadata it carries (``x-version``, ``x-owner``, ``x-status``)."""

    path: PurePosixPath
    content: Mapping[str, Any]
    event_type: EventTypeName | None

    @property
    def is_core(self) -> bool:
        return self.event_type is None

    @property
    def schema_id(self) -> str:
        return str(self.content.get("$id", schema_id_for(self.path)))

    @property
    def title(self) -> str:
        return str(self.content.get("title", ""))

    @property
    def description(self) -> str:
        return str(self.content.get("description", ""))

    @property
    def version(self) -> str:
        return str(self.content.get("x-version", ""))

    @property
    def owner(self) -> str:
        return str(self.content.get("x-owner", ""))

    @property
    def status(self) -> str:
        return str(self.content.get("x-status", ""))

    @property
    def deprecated_since(self) -> str | None:
        value = self.content.get("x-deprecated-since")
        return None if value is None else str(value)

    @property
    def replaced_by(self) -> str | None:
        value = self.content.get("x-replaced-by")
        return None if value is None else str(value)

    @property
    def examples(self) -> list[Any]:
        examples = self.content.get("examples", [])
        return list(examples) if isinstance(examples, list) else []


class CatalogError(Exception):
    """The schema directory cannot be loaded; each problem is ``path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("cannot load the schemas:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class Catalog:
    """Every schema under one root: the core schemas and one payload schema per event type."""

    root: Path
    documents: tuple[SchemaDocument, ...]
    _by_event_type: dict[str, SchemaDocument] = field(repr=False)

    @classmethod
    def load(cls, root: Path | None = None) -> Catalog:
        root = root or default_schema_root()
        if not root.is_dir():
            raise CatalogError([f"{root}: no such schema directory"])
        documents: list[SchemaDocument] = []
        problems: list[str] = []
        for raw in read_schema_files(root):
            if raw.content is None:
                problems.append(f"{raw.path}: {raw.error}")
                continue
            event_type: EventTypeName | None = None
            if raw.path.parts[0] != CORE_DIR:
                try:
                    event_type = EventTypeName.from_schema_path(raw.path)
                except InvalidEventTypeName as exc:
                    problems.append(f"{raw.path}: {exc}")
                    continue
            documents.append(SchemaDocument(raw.path, raw.content, event_type))
        if problems:
            raise CatalogError(problems)
        by_type = {str(doc.event_type): doc for doc in documents if doc.event_type is not None}
        if not any(doc.schema_id == ENVELOPE_ID for doc in documents):
            raise CatalogError([f"{root}: the envelope schema {ENVELOPE_ID} is missing"])
        return cls(root, tuple(documents), by_type)

    @property
    def envelope(self) -> SchemaDocument:
        """The canonical envelope schema (a loaded catalog always has one)."""
        return next(doc for doc in self.documents if doc.schema_id == ENVELOPE_ID)

    @property
    def core(self) -> list[SchemaDocument]:
        return [doc for doc in self.documents if doc.is_core]

    @property
    def event_types(self) -> list[str]:
        return sorted(self._by_event_type)

    def payload_schemas(self) -> list[SchemaDocument]:
        return [self._by_event_type[name] for name in self.event_types]

    def get(self, event_type: str) -> SchemaDocument | None:
        return self._by_event_type.get(event_type)

    def resources(self) -> list[tuple[str, Mapping[str, Any]]]:
        """``($id, schema)`` of every document, for a validator's reference registry."""
        return [(doc.schema_id, doc.content) for doc in self.documents]


@functools.cache
def default_catalog() -> Catalog:
    """The packaged schemas, loaded once per process."""
    return Catalog.load()
