"""CloudEvents 1.0 and the canonical envelope: one event, two shapes (design.md, "Interop").

The gateway takes CloudEvents (structured, batch and binary HTTP mode) and events are handed
out as CloudEvents, so tools built on the CloudEvents SDKs work with the platform unchanged.
``id``↔``event_id``, ``type``↔``event_type``, ``source``↔``/{source.type}/{source.host}/{source.app}``,
``time``↔``timestamp``, ``data``↔``payload``, ``dataschema``↔the payload schema's ``$id``; the
extensions ``correlationids``, ``agentcontext``, ``traceparent`` and ``tracestate`` carry the
envelope's causation, agent and trace context (a parent named twice in ``correlationids`` is
listed once).

What the envelope has no field for (an id that is not a UUID, a source of another form,
``subject``, other extensions) is kept in ``source.meta.cloudevents``, so :func:`structured`
gives a CloudEvent back as it was sent. A ``source.meta`` of the envelope's own has no
CloudEvents attribute and is not part of the CloudEvent.

Exceptions::

    holyfields.InvalidEvent     a CloudEvent that cannot become an envelope; each issue names its attribute
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from gumdrop.strict_json import InvalidJson, decode_json, json_path
from holyfields import Catalog, InvalidEvent, ValidationIssue
from holyfields.naming import ENVELOPE_ID, UUID_PATTERN

__all__ = [
    "AMQP_PREFIX",
    "BATCH",
    "NAMESPACE",
    "SPEC_VERSION",
    "STRUCTURED",
    "amqp_properties",
    "binary_event",
    "envelope_document",
    "is_binary",
    "structured",
]

SPEC_VERSION = "1.0"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
AMQP_PREFIX = "cloudEvents:"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://33god.io/cloudevents")
"""Derives the event_id of a CloudEvent whose id is not a UUID; stored ids depend on it, so it never changes."""

_SOURCE_TYPES = frozenset(("manual", "agent", "scheduled", "webhook", "system"))
"""The source schema's ``type`` enum: the first segment of a source in the platform's form."""
_FOREIGN_HOST = "cloudevents"
_MAX_HOST, _MAX_APP = 255, 128
_CONTEXT = frozenset(("specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject"))
_MAPPED = frozenset(("correlationids", "agentcontext", "traceparent", "tracestate"))
"""Extensions with an envelope field (a ``tracestate`` without a ``traceparent`` is discarded, as W3C says)."""
_MAX_TRACESTATE = 512
_DATA = ("data", "data_base64")
_NAME = re.compile(r"[a-z0-9]{1,20}")
_UUID = re.compile(UUID_PATTERN)
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_SCALARS = (str, int, float, bool)
_JSON_TYPES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}

_AMQP_SPECVERSION = AMQP_PREFIX + "specversion"
_AMQP_ID = AMQP_PREFIX + "id"
_AMQP_TYPE = AMQP_PREFIX + "type"
_AMQP_SOURCE = AMQP_PREFIX + "source"
_AMQP_TIME = AMQP_PREFIX + "time"
_AMQP_DATASCHEMA = AMQP_PREFIX + "dataschema"
_AMQP_CORRELATIONIDS = AMQP_PREFIX + "correlationids"


def envelope_document(event: object, *, catalog: Catalog, path: str = "$") -> dict[str, Any]:
    """The envelope document of a structured CloudEvent (decoded JSON), for the gateway's intake to complete.

    ``time`` is the ``timestamp`` as sent (validation checks it, the store writes it in UTC); it
    is left out when there is no ``time`` (the intake stamps it), and so is ``version``.
    Raises :class:`~holyfields.InvalidEvent` listing every problem, each at the JSON path of
    its attribute under ``path`` (``$[3]`` for the fourth event of a batch).
    """
    if not isinstance(event, dict):
        raise InvalidEvent([ValidationIssue(path, f"expected an object (one CloudEvent), got {_json_type(event)}")])
    attributes = {name: value for name, value in event.items() if value is not None}
    issues = _check(attributes, catalog, path)
    extensions = _extensions(attributes, path, issues)
    correlation_ids = _correlation_ids(attributes.get("correlationids"), path, issues)
    agent_context = _agent_context(attributes.get("agentcontext"), path, issues)
    trace_context = _trace_context(attributes, path, issues)
    if issues:
        raise InvalidEvent(issues)
    event_id, source = _envelope_identity(attributes["id"], attributes["source"])
    kept = {"subject": attributes["subject"]} if "subject" in attributes else {}
    if extensions:
        kept["extensions"] = extensions
    if kept:
        source.setdefault("meta", {}).setdefault("cloudevents", {}).update(kept)
    document: dict[str, Any] = {"event_id": event_id, "event_type": attributes["type"]}
    if "time" in attributes:
        document["timestamp"] = attributes["time"]
    document.update(source=source, correlation_ids=correlation_ids, payload=attributes["data"])
    if agent_context is not None:
        document["agent_context"] = agent_context
    if trace_context is not None:
        document["trace_context"] = trace_context
    return document


def structured(envelope: Mapping[str, Any], *, catalog: Catalog) -> dict[str, Any]:
    """The structured CloudEvent of a valid envelope; the inverse of :func:`envelope_document`.

    ``time`` is the envelope's timestamp as stored (UTC); ``datacontenttype`` is always
    ``application/json``, and ``dataschema`` is named whenever the catalog knows the type.
    """
    event_id, source = _identity(envelope)
    event_type = envelope["event_type"]
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": source,
        "type": event_type,
        "time": envelope["timestamp"],
        "datacontenttype": "application/json",
    }
    if (schema := catalog.get(event_type)) is not None:
        event["dataschema"] = schema.schema_id
    kept = _kept(envelope["source"])
    if isinstance(subject := kept.get("subject"), _SCALARS):
        event["subject"] = subject
    if isinstance(extensions := kept.get("extensions"), Mapping):
        event.update(
            (name, value)
            for name, value in extensions.items()
            if isinstance(name, str) and _is_extension(name) and isinstance(value, _SCALARS)
        )
    if parents := envelope["correlation_ids"]:
        event["correlationids"] = ",".join(parents)
    if (agent_context := envelope.get("agent_context")) is not None:
        event["agentcontext"] = json.dumps(agent_context, separators=(",", ":"), ensure_ascii=False)
    if (trace := envelope.get("trace_context")) is not None:
        event["traceparent"] = f"00-{trace['trace_id']}-{trace['span_id']}-{trace.get('trace_flags', '00')}"
        if "tracestate" in trace:
            event["tracestate"] = trace["tracestate"]
    event["data"] = envelope["payload"]
    return event


def is_binary(headers: Mapping[str, str]) -> bool:
    """Whether a request is a CloudEvent in HTTP binary mode (it has a ``ce-specversion`` header)."""
    return "ce-specversion" in headers or any(name.lower() == "ce-specversion" for name in headers)


def binary_event(headers: Mapping[str, str], data: object) -> dict[str, Any]:
    """The structured form of a binary-mode request: its ``ce-*`` headers, content type and decoded body.

    Header values are percent-decoded, as the CloudEvents HTTP binding encodes them.
    """
    event: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-"):
            event[lowered[3:]] = unquote(value)
        elif lowered == "content-type":
            event["datacontenttype"] = value
    event["data"] = data
    return event


def amqp_properties(envelope: Mapping[str, Any]) -> dict[str, str]:
    """The AMQP binding's application properties of a message whose body is ``envelope`` (valid, as published).

    The CloudEvent is the whole envelope, not its payload: ``cloudEvents:dataschema`` names the
    envelope schema, and the body's content type is the message's own property. ``id`` and
    ``source`` are those :func:`structured` gives, so both bindings name the same event.
    """
    event_id, source = _identity(envelope)
    properties = {
        _AMQP_SPECVERSION: SPEC_VERSION,
        _AMQP_ID: event_id,
        _AMQP_TYPE: envelope["event_type"],
        _AMQP_SOURCE: source,
        _AMQP_TIME: envelope["timestamp"],
        _AMQP_DATASCHEMA: ENVELOPE_ID,
    }
    if parents := envelope["correlation_ids"]:
        properties[_AMQP_CORRELATIONIDS] = ",".join(parents)
    return properties


def _envelope_identity(ce_id: str, ce_source: str) -> tuple[str, dict[str, Any]]:
    """The event_id and source of a CloudEvent's ``id`` and ``source``, keeping in meta what they cannot hold."""
    kept: dict[str, Any] = {}
    source = _platform_source(ce_source)
    if source is None:
        source = _foreign_source(ce_source)
        kept["source"] = ce_source
    if _UUID.fullmatch(ce_id):
        event_id = ce_id
    else:
        event_id = str(uuid.uuid5(NAMESPACE, f"{ce_source}\n{ce_id}"))
        kept["id"] = ce_id
    if kept:
        source["meta"] = {"cloudevents": kept}
    return event_id, source


def _extensions(attributes: Mapping[str, Any], path: str, issues: list[ValidationIssue]) -> dict[str, Any]:
    """The extension attributes the envelope has no field for, kept as they are."""
    extensions = {
        name: value
        for name, value in attributes.items()
        if name not in _CONTEXT and name not in _MAPPED and name not in _DATA
    }
    for name in ("subject", *extensions):
        if name in attributes and not isinstance(attributes[name], _SCALARS):
            message = f"expected a string, number or boolean, got {_json_type(attributes[name])}"
            issues.append(_issue(path, name, message))
    return extensions


def _identity(envelope: Mapping[str, Any]) -> tuple[str, str]:
    """The CloudEvents ``id`` and ``source`` of an envelope: as first sent, when it came in as a CloudEvent."""
    source = envelope["source"]
    event_id: str = envelope["event_id"]
    uri = _source_uri(source["type"], source["host"], source.get("app"))
    if "meta" not in source:
        return event_id, uri
    kept = _kept(source)
    sent_id, sent_source = kept.get("id"), kept.get("source")
    return (
        sent_id if isinstance(sent_id, str) and sent_id else event_id,
        sent_source if isinstance(sent_source, str) and sent_source else uri,
    )


def _kept(source: Mapping[str, Any]) -> Mapping[str, Any]:
    """What ``source.meta.cloudevents`` kept of the CloudEvent (empty when the event did not come as one)."""
    meta = source.get("meta")
    kept = meta.get("cloudevents") if isinstance(meta, Mapping) else None
    return kept if isinstance(kept, Mapping) else {}


@functools.lru_cache(maxsize=1024)
def _source_uri(kind: str, host: str, app: str | None) -> str:
    """``/{type}/{host}/{app}`` with each segment percent-encoded; publishers reuse a handful of sources."""
    uri = f"/{quote(kind, safe='')}/{quote(host, safe='')}"
    return uri if app is None else f"{uri}/{quote(app, safe='')}"


def _platform_source(text: str) -> dict[str, Any] | None:
    """The envelope source ``text`` is the exact form of (``/{type}/{host}[/{app}]``), or None."""
    parts = text.split("/")
    if len(parts) not in (3, 4) or parts[0] or parts[1] not in _SOURCE_TYPES:
        return None
    host, *app = (unquote(part) for part in parts[2:])
    if not host or not all(app) or _source_uri(parts[1], host, app[0] if app else None) != text:
        return None
    source = {"host": host, "type": parts[1]}
    if app:
        source["app"] = app[0]
    return source


def _foreign_source(text: str) -> dict[str, Any]:
    """An envelope source standing for any other CloudEvents source (a URL, a URN…), kept verbatim beside it."""
    try:
        split = urlsplit(text)
        host, path = split.hostname, split.path
    except ValueError:
        host, path = None, text
    host = (host or _FOREIGN_HOST)[:_MAX_HOST]
    segments = [segment for segment in path.split("/") if segment]
    app = unquote(segments[-1]) if segments else host
    return {"host": host, "type": "webhook", "app": app[:_MAX_APP]}


def _check(attributes: Mapping[str, Any], catalog: Catalog, path: str) -> list[ValidationIssue]:
    """Every problem with the context attributes, names and data of a CloudEvent."""
    issues: list[ValidationIssue] = []
    version = attributes.get("specversion")
    if version is None:
        issues.append(
            _issue(path, "specversion", "is required: this gateway takes CloudEvents 1.0 (specversion '1.0')")
        )
    elif version != SPEC_VERSION:
        issues.append(_issue(path, "specversion", f"must be '1.0' (CloudEvents 1.0), got {_show(version)}"))
    for name in ("id", "type", "source"):
        value = attributes.get(name)
        if value is None:
            issues.append(_issue(path, name, "is required: a non-empty string"))
        elif not isinstance(value, str) or not value:
            issues.append(_issue(path, name, f"expected a non-empty string, got {_show(value)}"))
    issues.extend(
        _issue(
            path,
            name,
            "is not a CloudEvents attribute name: use lowercase letters a-z and digits, at most 20 characters",
        )
        for name in attributes
        if name not in _DATA and not _NAME.fullmatch(name)
    )
    media_type = attributes.get("datacontenttype")
    if media_type is not None and not (isinstance(media_type, str) and _is_json_media_type(media_type)):
        issues.append(
            _issue(
                path,
                "datacontenttype",
                f"must be a JSON media type (application/json or */*+json), got {_show(media_type)}",
            )
        )
    issues.extend(_data_issues(attributes, path))
    schema = catalog.get(event_type) if isinstance(event_type := attributes.get("type"), str) else None
    dataschema = attributes.get("dataschema")
    if dataschema is not None and schema is not None and dataschema != schema.schema_id:
        message = f"is not the payload schema of {event_type}: expected {schema.schema_id!r}, got {_show(dataschema)}"
        issues.append(_issue(path, "dataschema", message))
    return issues


def _data_issues(attributes: Mapping[str, Any], path: str) -> list[ValidationIssue]:
    if "data_base64" in attributes:
        return [_issue(path, "data_base64", "the payload must be JSON: send it as 'data', a JSON object")]
    if "data" not in attributes:
        return [_issue(path, "data", "is required: the event's payload, a JSON object")]
    if not isinstance(data := attributes["data"], dict):
        return [_issue(path, "data", f"expected an object (the event's payload), got {_json_type(data)}")]
    return []


def _correlation_ids(value: object, path: str, issues: list[ValidationIssue]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        issues.append(_issue(path, "correlationids", f"expected the parent ids, comma-separated, got {_show(value)}"))
        return []
    parents = [parent.strip() for parent in value.split(",")] if value.strip() else []
    issues.extend(
        _issue(path, "correlationids", f"{parent!r} is not a UUID: the parents are event ids, comma-separated")
        for parent in parents
        if not _UUID.fullmatch(parent)
    )
    return list(dict.fromkeys(parents))  # a parent named twice is one parent: the envelope lists each once


def _agent_context(value: object, path: str, issues: list[ValidationIssue]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        issues.append(_issue(path, "agentcontext", f"expected the agent context as JSON text, got {_json_type(value)}"))
        return None
    try:
        context = decode_json(value)
    except InvalidJson as exc:
        issues.append(_issue(path, "agentcontext", f"is not JSON: {exc.message}"))
        return None
    if not isinstance(context, dict):
        issues.append(_issue(path, "agentcontext", f"expected a JSON object, got {_json_type(context)}"))
        return None
    return context


def _trace_context(attributes: Mapping[str, Any], path: str, issues: list[ValidationIssue]) -> dict[str, str] | None:
    """The trace context of ``traceparent`` and ``tracestate``; a lone tracestate is discarded (W3C)."""
    state = attributes.get("tracestate")
    if state is not None and not isinstance(state, str):
        issues.append(_issue(path, "tracestate", f"expected a string, got {_json_type(state)}"))
    elif state is not None and len(state) > _MAX_TRACESTATE:
        issues.append(_issue(path, "tracestate", f"is longer than {_MAX_TRACESTATE} characters"))
    value = attributes.get("traceparent")
    if value is None:
        return None
    match = _TRACEPARENT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        message = f"is not a W3C traceparent '00-<32 hex>-<16 hex>-<2 hex>' (lowercase), got {_show(value)}"
        issues.append(_issue(path, "traceparent", message))
        return None
    context = dict(zip(("trace_id", "span_id", "trace_flags"), match.groups(), strict=True))
    if isinstance(state, str):
        context["tracestate"] = state
    return context


def _is_json_media_type(value: str) -> bool:
    kind, slash, subtype = value.partition(";")[0].strip().lower().partition("/")
    if not kind or not slash or " " in kind:
        return False
    return (kind == "application" and subtype == "json") or (subtype.endswith("+json") and len(subtype) > len("+json"))


def _is_extension(name: str) -> bool:
    return bool(_NAME.fullmatch(name)) and name not in _CONTEXT and name not in _MAPPED and name != "data"


def _issue(path: str, name: str, message: str) -> ValidationIssue:
    return ValidationIssue(path + json_path([name])[1:], message)


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004
