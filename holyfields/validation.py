"""Validating events: the envelope first, then the payload by its ``event_type``.

One compiled validator per event type checks the whole event (envelope and payload)
in a single pass; it is built once, when the :class:`EventValidator` is made.
Errors name the JSON path of the offending value (``$.payload.items[3].sku``) and
say what is wrong in words a person understands.

Exceptions::

    InvalidEvent (ValueError)      an event failed validation; ``issues`` lists every problem
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsonschema_rs

from gumdrop.issues import ValidationIssue
from gumdrop.strict_json import InvalidJson, check_json_value, decode_json, json_path
from holyfields.catalog import Catalog, default_catalog
from holyfields.naming import ENVELOPE_ID, EVENT_TYPE_PATTERN, UUID_PATTERN
from holyfields.timestamps import InvalidTimestamp, canonical_timestamp, is_timestamp

__all__ = ["EventValidator", "InvalidEvent", "ValidationIssue", "decode_json", "default_validator", "json_path"]

_DRAFT7 = "http://json-schema.org/draft-07/schema#"
_FORMATS = {"date-time": is_timestamp}
"""Formats checked by the platform's own definition rather than the validator's (see holyfields.timestamps)."""
_FORMAT_HINTS = {
    "date": "a date, e.g. '2026-11-02'",
    "uri": "an absolute URI, e.g. 'https://example.com/x'",
    "email": "an email address",
}


class InvalidEvent(ValueError):
    """An event failed validation; ``issues`` holds every problem found, in document order."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("invalid event: " + "; ".join(map(str, self.issues)))


class EventValidator:
    """Validates events against a catalog's envelope and payload schemas."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        registry = jsonschema_rs.Registry([(uri, dict(schema)) for uri, schema in catalog.resources()])
        self._envelope = self._compile({"$ref": ENVELOPE_ID}, registry)
        # One validator per event type checks envelope and payload in a single pass: the
        # envelope schema with its payload narrowed (inlined, which validates faster than allOf).
        envelope = {key: value for key, value in catalog.envelope.content.items() if key not in ("$id", "examples")}
        self._by_type = {
            str(doc.event_type): self._compile(
                {**envelope, "properties": {**envelope["properties"], "payload": {"$ref": doc.schema_id}}}, registry
            )
            for doc in catalog.payload_schemas()
        }

    @staticmethod
    def _compile(schema: dict[str, Any], registry: jsonschema_rs.Registry) -> jsonschema_rs.Draft7Validator:
        return jsonschema_rs.Draft7Validator(
            {"$schema": _DRAFT7, **schema}, registry=registry, validate_formats=True, formats=_FORMATS
        )

    @property
    def event_types(self) -> list[str]:
        return sorted(self._by_type)

    def parse(self, raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
        """Decode and validate one event; return it, or raise :class:`InvalidEvent` listing every problem.

        The JSON itself must be as the platform accepts it (see :mod:`gumdrop.strict_json`).
        """
        try:
            event = decode_json(raw)
        except InvalidJson as exc:
            raise InvalidEvent([ValidationIssue(exc.path, exc.message)]) from exc
        validator = self._by_type.get(event.get("event_type")) if isinstance(event, dict) else None  # type: ignore[arg-type]
        if validator is not None and validator.is_valid(event):
            return event  # type: ignore[no-any-return]
        raise InvalidEvent(self.validate(event))

    def validate(self, event: object, *, encoded: bytes | None = None) -> list[ValidationIssue]:
        """Every problem with ``event`` (a decoded envelope); empty when it is valid.

        ``event`` is held to the rules of :mod:`gumdrop.strict_json` too; ``encoded``, its
        JSON text when the caller has it, makes that check cheap.
        """
        try:
            check_json_value(event, encoded=encoded)
        except InvalidJson as exc:
            return [ValidationIssue(exc.path, exc.message)]
        event_type = event.get("event_type") if isinstance(event, dict) else None
        validator = self._by_type.get(event_type) if isinstance(event_type, str) else None
        if validator is not None:
            if validator.is_valid(event):
                return []
            keys = self._allowed_keys_for(event_type)
            return [issue for error in validator.iter_errors(event) for issue in _describe(error, keys)]
        keys = self._allowed_keys_for(None)
        issues = [issue for error in self._envelope.iter_errors(event) for issue in _describe(error, keys)]
        if isinstance(event_type, str) and EVENT_TYPE_PATTERN.match(event_type):
            issues.append(ValidationIssue("$.event_type", self._unknown_type_message(event_type)))
        return issues

    def check(self, event: object) -> None:
        """Raise :class:`InvalidEvent` unless ``event`` is valid."""
        if issues := self.validate(event):
            raise InvalidEvent(issues)

    def _allowed_keys_for(self, event_type: str | None) -> Callable[[Sequence[str | int]], list[str]]:
        def allowed_keys(instance_path: Sequence[str | int]) -> list[str]:
            schema = self._schema_at(event_type, instance_path)
            properties = schema.get("properties", {}) if schema is not None else {}
            return list(properties) if isinstance(properties, dict) else []

        return allowed_keys

    def _schema_at(self, event_type: str | None, instance_path: Sequence[str | int]) -> Mapping[str, Any] | None:
        """The schema that governs the value at ``instance_path`` of an event (for hints in messages)."""
        schema: Mapping[str, Any] | None = self.catalog.envelope.content
        root = schema
        for step, part in enumerate(instance_path):
            if schema is None:
                return None
            if step == 0 and part == "payload":
                payload = self.catalog.get(event_type) if event_type else None
                schema = root = payload.content if payload else None
                continue
            schema = schema.get("items") if isinstance(part, int) else schema.get("properties", {}).get(part)
            schema = self._resolve(schema, root)
            if schema is not None and "$id" in schema:
                root = schema
        return self._resolve(schema, root)

    def _resolve(self, schema: Mapping[str, Any] | None, root: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        if not isinstance(ref, str):
            return schema
        if ref.startswith("#/definitions/") and root is not None:
            found = root.get("definitions", {}).get(ref.removeprefix("#/definitions/"))
            return found if isinstance(found, Mapping) else None
        return next((doc.content for doc in self.catalog.documents if doc.schema_id == ref), None)

    def _unknown_type_message(self, event_type: str) -> str:
        message = f"unknown event type {event_type!r}: no schema is registered for it"
        close = difflib.get_close_matches(event_type, self._by_type, n=1)
        return message + (f"; did you mean {close[0]!r}?" if close else "; see `holyfields list`")


def _describe(
    error: jsonschema_rs.ValidationError, allowed_keys: Callable[[Sequence[str | int]], list[str]]
) -> list[ValidationIssue]:
    """Turn a validator error into paths and sentences (one per unexpected field)."""
    kind = error.kind
    name = type(kind).__name__
    if name == "AdditionalProperties":
        known = [
            k
            for k in allowed_keys(error.instance_path)
            if not isinstance(error.instance, dict) or k not in error.instance
        ]
        return [_unknown_field(list(error.instance_path), key, known) for key in kind.as_dict()["unexpected"]]
    details = kind.as_dict()
    parts = list(error.instance_path)
    value = error.instance
    shown = _show(value)
    message: str
    if name == "Required":
        field = details["property"]
        field = field if isinstance(field, str) else str(field)
        parts.append(field)
        message = "is required"
    elif name == "Type":
        expected = " or ".join(details["types"])
        message = f"expected {expected}, got {_json_type(value)} {shown}"
    elif name == "Pattern":
        message = _pattern_message(details["pattern"], shown)
    elif name == "Format" and details["format"] == "date-time":
        message = _timestamp_problem(value)
    elif name == "Format":
        hint = _FORMAT_HINTS.get(details["format"], f"a valid {details['format']}")
        message = f"{shown} is not {hint}"
    elif name == "Enum":
        message = f"{shown} is not one of {', '.join(_show(o) for o in details['options'])}"
    else:
        message = error.message
    return [ValidationIssue(json_path(parts), message)]


def _timestamp_problem(value: object) -> str:
    try:
        canonical_timestamp(value)  # type: ignore[arg-type]  # the validator says it is not one
    except InvalidTimestamp as exc:
        return str(exc)
    return f"{_show(value)} is not a valid timestamp"  # pragma: no cover - the format and the parser agree


def _unknown_field(parts: list[str | int], key: str, known: list[str]) -> ValidationIssue:
    message = "unknown field: not allowed here"
    if close := difflib.get_close_matches(key, known, n=1):
        message += f"; did you mean {close[0]!r}?"
    elif known:
        message += f"; allowed: {', '.join(sorted(known))}"
    return ValidationIssue(json_path([*parts, key]), message)


def _pattern_message(pattern: str, shown: str) -> str:
    if pattern == UUID_PATTERN:
        return f"{shown} is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')"
    if pattern == EVENT_TYPE_PATTERN.pattern:
        return (
            f"{shown} is not a valid event type: expected {{domain}}.{{resource}}.{{action}}.v{{N}}"
            ", e.g. 'fireflies.transcript.ready.v1'"
        )
    return f"{shown} does not match the pattern {pattern!r}"


_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "object")


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."  # noqa: PLR2004


@functools.cache
def default_validator() -> EventValidator:
    """A validator over the packaged schemas, compiled once per process."""
    return EventValidator(default_catalog())
