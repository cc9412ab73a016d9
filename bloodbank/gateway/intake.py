"""What a client sent, turned into canonical envelopes: the short form completed, legacy envelopes upgraded.

The gateway accepts one event as a complete envelope, or as ``event_type`` and ``payload``
with any of the other fields; it fills in what is missing (id, timestamp, version, source,
no parents). Given fields are kept exactly as sent, so that validation reports on them.
Legacy envelopes pass only through the explicit upgrade, and only with the legacy switch on.
Nothing here validates against the schemas: the publisher does that, in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bloodbank.envelope import build_envelope
from bloodbank.legacy import is_legacy, upgrade_legacy_envelope
from holyfields import InvalidEvent, ValidationIssue
from holyfields.validation import json_path

__all__ = ["Intake", "batch_items", "json_type"]

_FILLED_BY_GATEWAY = ("event_id", "timestamp", "version", "source", "correlation_ids")
_NO_PAYLOAD: Mapping[str, Any] = {}
_NO_SOURCE: Mapping[str, Any] = {}
_JSON_TYPES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}

_LEGACY_REFUSED = (
    "this is a legacy envelope ('id', 'correlation_id' or a string 'source'): send the canonical envelope, "
    "or ask the operator to set BLOODBANK_ACCEPT_LEGACY=true so that the gateway upgrades legacy envelopes"
)
_LEGACY_SWITCH_OFF = (
    "?legacy=true asks for the legacy upgrade, but this gateway's legacy switch is off: "
    "the operator must set BLOODBANK_ACCEPT_LEGACY=true, or send the canonical envelope"
)
_LEGACY_DECLINED = "this is a legacy envelope and the request says ?legacy=false: send the canonical envelope"

_CANONICAL_FIELDS = frozenset((*_FILLED_BY_GATEWAY, "event_type", "payload", "agent_context", "trace_context"))
_LEGACY_FIELDS = {
    "id": "a legacy field: the envelope calls it 'event_id'",
    "correlation_id": "a legacy field: the envelope has 'correlation_ids', the list of parent event ids",
    "source": "a string source is legacy: the envelope's source is an object {host, type, app}",
}


def _misspelt(document: Mapping[str, Any]) -> list[str]:
    """The fields the gateway would fill in that an unknown key of ``document`` looks like a misspelling of."""
    unknown = [key for key in document if key not in _CANONICAL_FIELDS]
    return [match for key in unknown for match in difflib.get_close_matches(key, _FILLED_BY_GATEWAY, n=1)]


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (``array``, ``object``…)."""
    return _JSON_TYPES.get(type(value), "object")


@dataclass(frozen=True, slots=True)
class Intake:
    """How one request's events become envelopes: who sent them, and whether legacy ones are upgraded."""

    client_host: str
    source_app: str
    accept_legacy: bool
    legacy_flag: bool | None = None

    def envelope(self, document: object) -> dict[str, Any]:
        """The canonical envelope of one event as sent; raises :class:`InvalidEvent` when it cannot be one."""
        if not isinstance(document, dict):
            raise InvalidEvent([ValidationIssue("$", f"expected an object (one event), got {json_type(document)}")])
        if is_legacy(document):
            return self._upgraded(document)
        if all(key in document for key in _FILLED_BY_GATEWAY):
            return document
        return self._completed(document)

    def _completed(self, document: dict[str, Any]) -> dict[str, Any]:
        event_type = document.get("event_type")
        source = _NO_SOURCE if "source" in document else self.default_source()
        envelope = build_envelope(
            event_type if isinstance(event_type, str) else "", _NO_PAYLOAD, source=source, correlation_ids=()
        )
        # Fields the client left out or misspelt stay out, so that validation names them ("did you mean").
        for field in ("event_type", "payload", *_misspelt(document)):
            if field not in document:
                envelope.pop(field, None)
        envelope.update(document)
        return envelope

    def _upgraded(self, document: dict[str, Any]) -> dict[str, Any]:
        if self.accept_legacy and self.legacy_flag is not False:
            return upgrade_legacy_envelope(document, host=self.client_host)
        if self.legacy_flag is False:
            message = _LEGACY_DECLINED
        else:
            message = _LEGACY_SWITCH_OFF if self.legacy_flag else _LEGACY_REFUSED
        legacy_fields = [
            ValidationIssue(json_path([field]), hint)
            for field, hint in _LEGACY_FIELDS.items()
            if field in document and (field != "source" or isinstance(document[field], str))
        ]
        raise InvalidEvent([ValidationIssue("$", message), *legacy_fields])

    def default_source(self) -> dict[str, Any]:
        return {"host": self.client_host, "type": "webhook", "app": self.source_app}


def batch_items(document: object) -> list[Any]:
    """The events of a batch body: a JSON array, or ``{"events": [...]}``; raises :class:`InvalidEvent` otherwise."""
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise InvalidEvent([ValidationIssue("$", f"expected an array of events, got {json_type(document)}")])
    issues = [
        ValidationIssue(json_path([key]), "unknown field: not allowed here; allowed: events")
        for key in document
        if key != "events"
    ]
    events = document.get("events")
    if "events" not in document:
        issues.insert(0, ValidationIssue("$.events", 'is required: send an array of events, or {"events": [...]}'))
    elif not isinstance(events, list):
        issues.insert(0, ValidationIssue("$.events", f"expected array, got {json_type(events)}"))
    if issues:
        raise InvalidEvent(issues)
    assert isinstance(events, list)  # noqa: S101 - checked above
    return events
