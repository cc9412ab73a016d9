"""Linting the schema directory: every rule a schema must follow before code may use it.

Each problem is one :class:`LintProblem`: the file, the JSON path inside it, and what
is wrong. Rules: valid JSON and draft-07; ``$id`` and title agree with the file path;
the event type follows the naming convention (report 5.3); description, examples,
``x-version`` (whose major is the ``vN``), ``x-owner`` and ``x-status`` are present and
well-formed; examples validate; ``$ref`` resolves; every property is described; objects
say whether they are closed; UUID fields carry the UUID pattern; only the keywords the
code generators understand are used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema_rs

from holyfields.catalog import CORE_DIR, read_schema_files
from holyfields.naming import UUID_PATTERN, EventTypeName, InvalidEventTypeName, schema_id_for
from holyfields.validation import json_path

__all__ = ["SUPPORTED_KEYWORDS", "LintProblem", "lint_schemas"]

DRAFT7_URI = "http://json-schema.org/draft-07/schema#"
SUPPORTED_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "title",
        "description",
        "examples",
        "default",
        "definitions",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "uniqueItems",
        "x-version",
        "x-owner",
        "x-status",
        "x-deprecated-since",
        "x-replaced-by",
    }
)
SUPPORTED_FORMATS = frozenset({"uuid", "date-time", "date", "uri", "email"})
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_OWNER = re.compile(r"^[a-z][a-z0-9-]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CORE_FILE = re.compile(r"^[a-z][a-z-]*\.v[1-9]\d*\.schema\.json$")


@dataclass(frozen=True, slots=True, order=True)
class LintProblem:
    """A rule one schema breaks: ``file: $.json.path: message``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


def lint_schemas(root: Path) -> list[LintProblem]:
    """Every problem in the schema directory ``root``, sorted by file and path."""
    files = list(read_schema_files(root))
    problems = [LintProblem(str(f.path), "$", f.error or "unreadable") for f in files if f.content is None]
    documents = {f.path: f.content for f in files if f.content is not None}
    ids = {str(doc.get("$id")): path for path, doc in documents.items()}
    event_types = {
        str(EventTypeName.from_schema_path(path))
        for path in documents
        if path.parts[0] != CORE_DIR and _is_event_path(path)
    }
    resources = [(schema_id_for(path), doc) for path, doc in documents.items()]
    for path, doc in documents.items():
        rule = _SchemaRules(path, doc, ids, event_types, resources)
        problems.extend(LintProblem(str(path), where, what) for where, what in rule.problems())
    return sorted(problems)


def _is_event_path(path: PurePosixPath) -> bool:
    try:
        EventTypeName.from_schema_path(path)
    except InvalidEventTypeName:
        return False
    return True


class _SchemaRules:
    """The rules applied to one schema document."""

    def __init__(
        self,
        path: PurePosixPath,
        doc: dict[str, Any],
        ids: dict[str, PurePosixPath],
        event_types: set[str],
        resources: list[tuple[str, Any]],
    ) -> None:
        self.path, self.doc, self.ids, self.event_types, self.resources = path, doc, ids, event_types, resources

    def problems(self) -> Iterator[tuple[str, str]]:
        try:
            jsonschema_rs.meta.validate(self.doc)
        except jsonschema_rs.ValidationError as error:
            yield json_path(list(error.instance_path)), f"not a valid draft-07 schema: {error.message}"
            return
        yield from self._identity()
        yield from self._metadata()
        structure = list(self._keywords(self.doc, [], top=True))
        yield from structure
        if not any(where.endswith(".$ref") for where, _ in structure):  # a broken $ref already says why
            yield from self._examples()

    def _identity(self) -> Iterator[tuple[str, str]]:
        if self.doc.get("$schema") != DRAFT7_URI:
            yield "$.$schema", f"must be {DRAFT7_URI!r}"
        expected_id = schema_id_for(self.path)
        if self.doc.get("$id") != expected_id:
            yield "$.$id", f"{self.doc.get('$id')!r} does not match the file path: expected {expected_id!r}"
        if self.path.parts[0] == CORE_DIR:
            if not _CORE_FILE.fullmatch(self.path.name) or len(self.path.parts) != 2:  # noqa: PLR2004
                yield "$", "core schema files are named 'core/{name}.v{N}.schema.json'"
            if not self.doc.get("title"):
                yield "$.title", "is required"
            return
        try:
            event_type = EventTypeName.from_schema_path(self.path)
        except InvalidEventTypeName as exc:
            yield "$", str(exc)
            return
        if self.doc.get("title") != event_type.class_name:
            yield "$.title", f"must be {event_type.class_name!r}, the PascalCase of the event type {str(event_type)!r}"
        if self.doc.get("type") != "object":
            yield "$.type", "a payload schema must be of type 'object'"

    def _metadata(self) -> Iterator[tuple[str, str]]:
        if not str(self.doc.get("description", "")).strip():
            yield "$.description", "is required: say when the event is published and by whom"
        version = self.doc.get("x-version")
        match = _SEMVER.fullmatch(version) if isinstance(version, str) else None
        if match is None:
            yield "$.x-version", f"{version!r} is not a semantic version like '1.0.0'"
        else:
            major = re.search(r"\.v(\d+)\.schema\.json$", self.path.name)
            if major and int(match[1]) != int(major[1]):
                yield "$.x-version", f"major {match[1]} does not match the file's v{major[1]}"
        owner = self.doc.get("x-owner")
        if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
            yield "$.x-owner", f"{owner!r} is not an owner slug like 'fireflies-team'"
        status = self.doc.get("x-status")
        if status not in ("active", "deprecated"):
            yield "$.x-status", f"{status!r} is not 'active' or 'deprecated'"
        if status == "deprecated":
            since = self.doc.get("x-deprecated-since")
            if not isinstance(since, str) or not _DATE.fullmatch(since):
                yield "$.x-deprecated-since", "a deprecated schema needs the date it was deprecated (YYYY-MM-DD)"
            replaced = self.doc.get("x-replaced-by")
            if replaced is not None and replaced not in self.event_types:
                yield "$.x-replaced-by", f"{replaced!r} is not an event type in the registry"
        elif "x-deprecated-since" in self.doc or "x-replaced-by" in self.doc:
            yield "$.x-status", "x-deprecated-since and x-replaced-by are only for deprecated schemas"

    def _keywords(self, schema: Any, where: list[str | int], *, top: bool = False) -> Iterator[tuple[str, str]]:
        if not isinstance(schema, Mapping):
            return
        for keyword in schema:
            if keyword not in SUPPORTED_KEYWORDS:
                yield json_path([*where, keyword]), f"keyword {keyword!r} is not supported by the code generators"
        if "$ref" in schema:
            yield from self._ref(schema["$ref"], [*where, "$ref"])
        yield from self._format(schema, where)
        yield from self._properties(schema, where)
        yield from self._keywords(schema.get("items"), [*where, "items"])
        for name, sub in (schema.get("definitions") or {}).items():
            yield from self._keywords(sub, [*where, "definitions", name])
        if top and not self.doc.get("examples"):
            yield "$.examples", "at least one valid example is required"

    def _properties(self, schema: Mapping[str, Any], where: list[str | int]) -> Iterator[tuple[str, str]]:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return
        if "additionalProperties" not in schema:
            yield json_path(where), "an object with properties must say whether it is closed: set additionalProperties"
        for name, sub in properties.items():
            if isinstance(sub, Mapping) and "$ref" not in sub and not str(sub.get("description", "")).strip():
                yield json_path([*where, "properties", name]), "every property needs a description"
            yield from self._keywords(sub, [*where, "properties", name])
        for name in schema.get("required", []):
            if name not in properties:
                yield json_path([*where, "required"]), f"{name!r} is required but not among the properties"

    def _format(self, schema: Mapping[str, Any], where: list[str | int]) -> Iterator[tuple[str, str]]:
        fmt = schema.get("format")
        if fmt is not None and fmt not in SUPPORTED_FORMATS:
            yield json_path([*where, "format"]), f"format {fmt!r} is not one of {', '.join(sorted(SUPPORTED_FORMATS))}"
        if fmt == "uuid" and schema.get("pattern") != UUID_PATTERN:
            yield (
                json_path([*where, "pattern"]),
                f"a uuid field must carry the pattern {UUID_PATTERN!r} (draft-07 does not check uuid)",
            )

    def _ref(self, ref: Any, where: list[str | int]) -> Iterator[tuple[str, str]]:
        if not isinstance(ref, str):
            return
        if ref.startswith("#/definitions/"):
            if ref.removeprefix("#/definitions/") not in (self.doc.get("definitions") or {}):
                yield json_path(where), f"{ref!r} does not resolve: no such definition"
        elif ref not in self.ids:
            yield json_path(where), f"{ref!r} does not resolve to any schema in the registry"

    def _examples(self) -> Iterator[tuple[str, str]]:
        examples = self.doc.get("examples")
        if not isinstance(examples, list):
            return
        # Only this schema and the ones it references: a broken schema elsewhere is reported there.
        referenced = [(uri, doc) for uri, doc in self.resources if uri in _external_refs(self.doc)]
        try:
            validator = jsonschema_rs.Draft7Validator(
                self.doc, registry=jsonschema_rs.Registry(referenced), validate_formats=True
            )
        except (ValueError, jsonschema_rs.ReferencingError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            yield "$", f"examples cannot be checked: the schema does not compile ({first_line})"
            return
        for index, example in enumerate(examples):
            for error in validator.iter_errors(example):
                at = json_path(list(error.instance_path)).removeprefix("$")
                yield f"$.examples[{index}]{at}", f"example is invalid: {error.message}"


def _external_refs(schema: Any) -> set[str]:
    """The ids of the other schemas that ``schema`` references, anywhere inside it."""
    if isinstance(schema, Mapping):
        found = (
            {schema["$ref"]} if isinstance(schema.get("$ref"), str) and not schema["$ref"].startswith("#") else set()
        )
        return found.union(*(_external_refs(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_external_refs(value) for value in schema))
    return set()
