"""Compatibility of schema changes, by the versioning rules of the convergence report (8.1.2).

Every difference between two versions of a schema is classified:

* **patch**: descriptions, titles, examples, defaults, metadata;
* **minor**: a new optional field, a widened enum or a loosened constraint;
* **major**: a new required field, a removed or renamed field, a changed type, a
  narrowed enum or a tightened constraint.

``x-version`` must be bumped at least as much as the largest change, and a major
change is never allowed inside an existing ``vN`` file: it needs a new
``v(N+1)`` file (a new event type) instead.

``holyfields diff`` compares directories (:func:`compare_directories`,
:func:`compare_with_git_ref`); the registry's ``POST /schemas/{event_type}/compatibility``
compares one candidate with the registered schema (:func:`candidate_issues`, then
:func:`compare_schema`). Both classify with the same code.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import jsonschema_rs

from holyfields.catalog import read_schema_files
from holyfields.validation import ValidationIssue, json_path

__all__ = [
    "CLASSIFIED_KEYWORDS",
    "DRAFT7_URIS",
    "ChangeLevel",
    "CompatReport",
    "SchemaChange",
    "SchemaDiff",
    "candidate_issues",
    "compare_directories",
    "compare_schema",
    "compare_with_git_ref",
]

DRAFT7_URIS = ("http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema")
"""The ``$schema`` a candidate may declare (the first is what the registry's files say)."""

_JSON_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class ChangeLevel(IntEnum):
    """How much a change breaks consumers; the version part it requires bumping."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class SchemaChange:
    path: str
    level: ChangeLevel
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "level": str(self.level), "message": self.message}


@dataclass(slots=True)
class SchemaDiff:
    """The changes of one schema file, the version bump they need, and any rule broken."""

    file: str
    status: str  # added, removed, changed, unchanged
    old_version: str | None = None
    new_version: str | None = None
    changes: list[SchemaChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def level(self) -> ChangeLevel:
        return max((c.level for c in self.changes), default=ChangeLevel.NONE)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "level": str(self.level),
            "old_version": self.old_version,
            "new_version": self.new_version,
            "changes": [c.to_json() for c in self.changes],
            "problems": self.problems,
        }


@dataclass(slots=True)
class CompatReport:
    diffs: list[SchemaDiff]

    @property
    def ok(self) -> bool:
        return not any(d.problems for d in self.diffs)

    def to_json(self) -> dict[str, Any]:
        changed = [d for d in self.diffs if d.status != "unchanged" or d.problems]
        return {"ok": self.ok, "schemas": [d.to_json() for d in changed]}

    def render(self) -> str:
        lines: list[str] = []
        for diff in self.diffs:
            if diff.status == "unchanged" and not diff.problems:
                continue
            versions = f"{diff.old_version or '-'} → {diff.new_version or '-'}"
            lines.append(f"{diff.file}: {diff.status}, {diff.level} change ({versions})")
            lines.extend(f"  {c.level!s:<5}  {c.path}: {c.message}" for c in diff.changes)
            lines.extend(f"  ERROR  {p}" for p in diff.problems)
        if not lines:
            return "no schema changes"
        errors = sum(len(d.problems) for d in self.diffs)
        lines.append("compatible: every change is versioned correctly" if self.ok else f"{errors} versioning error(s)")
        return "\n".join(lines)


def compare_directories(old_root: Path, new_root: Path) -> CompatReport:
    old = _load(old_root)
    new = _load(new_root)
    diffs = [_compare_file(path, old.get(path), new.get(path)) for path in sorted(old.keys() | new.keys())]
    return CompatReport(diffs)


def compare_with_git_ref(ref: str, new_root: Path) -> CompatReport:
    """Compare the schemas at git ``ref`` with the working tree's ``new_root``."""
    new_root = new_root.resolve()
    top = Path(_git(new_root, "rev-parse", "--show-toplevel").strip())
    prefix = new_root.relative_to(top).as_posix()
    with tempfile.TemporaryDirectory() as tmp:
        names = _git(top, "ls-tree", "-r", "--name-only", ref, "--", prefix).splitlines()
        for name in names:
            target = Path(tmp, PurePosixPath(name).relative_to(prefix))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_git(top, "show", f"{ref}:{name}"), encoding="utf-8")
        return compare_directories(Path(tmp), new_root)


def compare_schema(file: str, current: Mapping[str, Any], candidate: Mapping[str, Any]) -> SchemaDiff:
    """The changes from ``current`` to ``candidate``, the schema file at ``file``, and every versioning rule broken.

    ``candidate`` is expected to have passed :func:`candidate_issues`.
    """
    return _compare_file(file, dict(current), dict(candidate))


def candidate_issues(candidate: Any) -> list[ValidationIssue]:
    """Why ``candidate`` cannot be classified against a registered schema; empty when it can.

    It must be a JSON object, a valid draft-07 schema (formats are annotations, as draft-07 has
    them by default), declare no other ``$schema`` than draft-07, and use only
    :data:`CLASSIFIED_KEYWORDS`, in every subschema: a change to any other keyword would go
    unseen. Each issue is at its JSON path in ``candidate``.
    """
    if not isinstance(candidate, Mapping):
        kind = _JSON_KINDS.get(type(candidate), type(candidate).__name__)
        return [ValidationIssue("$", f"a schema must be a JSON object (a .schema.json file's content), got {kind}")]
    issues = [
        ValidationIssue(json_path(list(error.instance_path)), f"not a valid draft-07 schema: {error.message}")
        for error in _draft7_meta_validator().iter_errors(dict(candidate))
    ]
    return issues or list(_dialect_issues(candidate, []))


@functools.cache
def _draft7_meta_validator() -> jsonschema_rs.Draft7Validator:
    return jsonschema_rs.Draft7Validator(dict(jsonschema.Draft7Validator.META_SCHEMA), validate_formats=False)


def _dialect_issues(schema: Any, where: list[str | int]) -> Iterator[ValidationIssue]:
    """What the registry's schemas never hold, in ``schema`` and every subschema of it.

    Keywords the classification does not compare, another draft, and the two forms the code
    generators do not read (a list of item schemas, a schema as ``additionalProperties``).
    """
    if not isinstance(schema, Mapping):
        return  # true or false: a subschema with nothing to compare inside
    for keyword, value in schema.items():
        if keyword not in CLASSIFIED_KEYWORDS:
            yield ValidationIssue(
                json_path([*where, keyword]),
                f"keyword {keyword!r} is not supported by the registry (holyfields validate refuses it), "
                "so a change to it cannot be classified",
            )
        elif keyword == "$schema" and value not in DRAFT7_URIS:
            yield ValidationIssue(
                json_path([*where, keyword]), f"the registry's schemas are draft-07: expected {DRAFT7_URIS[0]!r}"
            )
    for group in ("properties", "definitions"):
        for name, sub in (schema.get(group) or {}).items():
            yield from _dialect_issues(sub, [*where, group, name])
    items = schema.get("items")
    if isinstance(items, list):
        yield ValidationIssue(
            json_path([*where, "items"]), "a list of item schemas (tuple validation) is not supported by the registry"
        )
    else:
        yield from _dialect_issues(items, [*where, "items"])
    if isinstance(schema.get("additionalProperties"), Mapping):
        yield ValidationIssue(
            json_path([*where, "additionalProperties"]),
            "must be true or false: an object of the registry is open or closed, a schema here is not supported",
        )


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603, S607
    if result.returncode != 0:
        raise ValueError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _load(root: Path) -> dict[str, dict[str, Any]]:
    return {str(f.path): f.content for f in read_schema_files(root) if f.content is not None}


def _version_text(doc: Mapping[str, Any] | None) -> str | None:
    return None if doc is None or "x-version" not in doc else str(doc["x-version"])


def _version(doc: Mapping[str, Any] | None) -> tuple[int, int, int] | None:
    text = doc.get("x-version") if doc else None
    try:
        major, minor, patch = (int(p) for p in str(text).split("."))
    except ValueError:
        return None
    return major, minor, patch


def _compare_file(path: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> SchemaDiff:
    diff = SchemaDiff(path, "changed", _version_text(old), _version_text(new))
    if old is None:
        diff.status = "added"
        diff.changes.append(SchemaChange("$", ChangeLevel.MINOR, "new schema"))
        version = _version(new)
        if version and version[1:] != (0, 0) and version != (1, 0, 0):
            diff.problems.append(
                f"a new schema starts at x-version {version[0]}.0.0, not {new and new.get('x-version')}"
            )
        return diff
    if new is None:
        diff.status = "removed"
        diff.changes.append(SchemaChange("$", ChangeLevel.MAJOR, "schema removed"))
        if old.get("x-status") != "deprecated":
            diff.problems.append(
                "a schema is removed only after it was deprecated (x-status: deprecated) for its notice period"
            )
        return diff
    diff.changes = list(_changes(old, new, []))
    if not diff.changes:
        diff.status = "unchanged"
    _check_version(diff, old, new)
    return diff


def _check_version(diff: SchemaDiff, old: dict[str, Any], new: dict[str, Any]) -> None:
    level = diff.level
    old_v, new_v = _version(old), _version(new)
    if old_v is None or new_v is None:
        diff.problems.append("x-version must be a semantic version in both the old and the new schema")
        return
    if level is ChangeLevel.MAJOR:
        major = diff.file.rsplit(".v", 1)[-1].split(".", 1)[0]
        next_file = diff.file.replace(f".v{major}.", f".v{int(major) + 1}.")
        diff.problems.append(
            f"breaking change inside v{major}: keep this file compatible and publish the change as a new "
            f"event type in {next_file} (x-version {int(major) + 1}.0.0), dual-publishing during the migration"
        )
        return
    needed = {
        ChangeLevel.MINOR: (old_v[0], old_v[1] + 1, 0),
        ChangeLevel.PATCH: (old_v[0], old_v[1], old_v[2] + 1),
        ChangeLevel.NONE: old_v,
    }[level]
    if new_v < needed:
        shown = ".".join(map(str, needed))
        diff.problems.append(f"a {level} change needs x-version {shown} or later, found {new.get('x-version')}")
    elif new_v[0] != old_v[0]:
        diff.problems.append("the major of x-version is the vN of the file name; it cannot change inside the file")


_PATCH_KEYS = frozenset(
    {
        "description",
        "title",
        "examples",
        "default",
        "$schema",
        "$id",
        "x-owner",
        "x-status",
        "x-deprecated-since",
        "x-replaced-by",
    }
)
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
CLASSIFIED_KEYWORDS = _PATCH_KEYS | {
    "x-version",
    "type",
    "$ref",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "definitions",
    "pattern",
    "format",
    "const",
    "enum",
    "uniqueItems",
    *_LOWER_BOUNDS,
    *_UPPER_BOUNDS,
}
"""Every keyword whose changes are classified: the ones the registry's schemas may use."""


def _types(schema: Mapping[str, Any]) -> set[str]:
    value = schema.get("type")
    if value is None:
        return set()
    return set(value) if isinstance(value, list) else {value}


def _changes(old: Any, new: Any, where: list[str | int]) -> Iterator[SchemaChange]:  # noqa: C901, PLR0912
    at = json_path(where)
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        if old != new:
            yield SchemaChange(at, ChangeLevel.MAJOR, "schema replaced")
        return
    for key in sorted(_PATCH_KEYS & (old.keys() | new.keys())):
        if old.get(key) != new.get(key):
            yield SchemaChange(json_path([*where, key]), ChangeLevel.PATCH, f"{key} changed")
    old_types, new_types = _types(old), _types(new)
    if old_types != new_types:
        if old_types and old_types <= new_types:
            yield SchemaChange(at, ChangeLevel.MINOR, f"type widened from {sorted(old_types)} to {sorted(new_types)}")
        else:
            yield SchemaChange(
                at, ChangeLevel.MAJOR, f"type changed from {sorted(old_types) or 'any'} to {sorted(new_types) or 'any'}"
            )
    if old.get("$ref") != new.get("$ref"):
        yield SchemaChange(at, ChangeLevel.MAJOR, f"reference changed from {old.get('$ref')} to {new.get('$ref')}")
    yield from _compare_properties(old, new, where)
    yield from _compare_constraints(old, new, where)
    if "items" in old or "items" in new:
        yield from _changes(old.get("items", {}), new.get("items", {}), [*where, "items"])
    old_defs, new_defs = old.get("definitions", {}), new.get("definitions", {})
    for name in sorted(old_defs.keys() | new_defs.keys()):
        if name not in new_defs:
            yield SchemaChange(json_path([*where, "definitions", name]), ChangeLevel.MAJOR, "definition removed")
        elif name not in old_defs:
            yield SchemaChange(json_path([*where, "definitions", name]), ChangeLevel.MINOR, "definition added")
        else:
            yield from _changes(old_defs[name], new_defs[name], [*where, "definitions", name])


def _compare_properties(
    old: Mapping[str, Any], new: Mapping[str, Any], where: list[str | int]
) -> Iterator[SchemaChange]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    removed = sorted(old_props.keys() - new_props.keys())
    added = sorted(new_props.keys() - old_props.keys())
    for name in removed:
        renamed = [a for a in added if new_props[a] == old_props[name]]
        hint = f" (renamed to {renamed[0]!r}?)" if renamed else ""
        yield SchemaChange(json_path([*where, "properties", name]), ChangeLevel.MAJOR, f"field {name!r} removed{hint}")
    for name in added:
        if name in new_req:
            yield SchemaChange(
                json_path([*where, "properties", name]), ChangeLevel.MAJOR, f"new required field {name!r}"
            )
        else:
            yield SchemaChange(
                json_path([*where, "properties", name]), ChangeLevel.MINOR, f"new optional field {name!r}"
            )
    for name in sorted(old_props.keys() & new_props.keys()):
        if name in new_req and name not in old_req:
            yield SchemaChange(
                json_path([*where, "properties", name]), ChangeLevel.MAJOR, f"field {name!r} became required"
            )
        elif name in old_req and name not in new_req:
            yield SchemaChange(
                json_path([*where, "properties", name]), ChangeLevel.MINOR, f"field {name!r} became optional"
            )
        yield from _changes(old_props[name], new_props[name], [*where, "properties", name])
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        yield SchemaChange(
            json_path([*where, "additionalProperties"]), ChangeLevel.MAJOR, "object closed to unknown fields"
        )
    elif old.get("additionalProperties") is False and new.get("additionalProperties") is not False:
        yield SchemaChange(
            json_path([*where, "additionalProperties"]), ChangeLevel.MINOR, "object opened to unknown fields"
        )


def _compare_constraints(
    old: Mapping[str, Any], new: Mapping[str, Any], where: list[str | int]
) -> Iterator[SchemaChange]:
    yield from _compare_bounds(old, new, where)
    for key in ("pattern", "format", "const"):
        before, after = old.get(key), new.get(key)
        if before != after:
            level = ChangeLevel.MINOR if after is None else ChangeLevel.MAJOR
            verb = "removed" if after is None else ("added" if before is None else "changed")
            yield SchemaChange(json_path([*where, key]), level, f"{key} {verb}: {before!r} → {after!r}")
    if "enum" in old or "enum" in new:
        yield from _compare_enum(old.get("enum"), new.get("enum"), json_path([*where, "enum"]))
    if not old.get("uniqueItems") and new.get("uniqueItems"):
        yield SchemaChange(json_path([*where, "uniqueItems"]), ChangeLevel.MAJOR, "items must now be unique")
    elif old.get("uniqueItems") and not new.get("uniqueItems"):
        yield SchemaChange(json_path([*where, "uniqueItems"]), ChangeLevel.MINOR, "items need not be unique any more")


def _compare_bounds(old: Mapping[str, Any], new: Mapping[str, Any], where: list[str | int]) -> Iterator[SchemaChange]:
    for key in _LOWER_BOUNDS + _UPPER_BOUNDS:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        path = json_path([*where, key])
        lower = key in _LOWER_BOUNDS
        if before is None or (after is not None and (after > before if lower else after < before)):
            yield SchemaChange(path, ChangeLevel.MAJOR, f"{key} tightened from {before} to {after}")
        else:
            yield SchemaChange(path, ChangeLevel.MINOR, f"{key} loosened from {before} to {after}")


def _compare_enum(before: list[Any] | None, after: list[Any] | None, path: str) -> Iterator[SchemaChange]:
    if before is None:
        yield SchemaChange(path, ChangeLevel.MAJOR, f"enum added: {after}")
    elif after is None:
        yield SchemaChange(path, ChangeLevel.MINOR, "enum removed")
    else:
        if dropped := [v for v in before if v not in after]:
            yield SchemaChange(path, ChangeLevel.MAJOR, f"enum narrowed: {dropped} removed")
        if gained := [v for v in after if v not in before]:
            yield SchemaChange(path, ChangeLevel.MINOR, f"enum widened: {gained} added")
