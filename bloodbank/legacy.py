"""The explicit upgrade of legacy envelopes (the seed's "current state") to the canonical one.

A legacy envelope has ``id`` instead of ``event_id``, a singular ``correlation_id``,
``source`` as a plain string and no ``version``. Nothing is lost: the old string
source becomes ``source.app`` and is also kept in ``source.meta.legacy_source``,
and unknown top-level fields are kept under ``source.meta.legacy_fields``.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from bloodbank.envelope import ENVELOPE_VERSION

__all__ = ["is_legacy", "upgrade_legacy_envelope"]

_CANONICAL = {
    "event_id",
    "event_type",
    "timestamp",
    "version",
    "source",
    "correlation_ids",
    "payload",
    "agent_context",
    "trace_context",
}
_LEGACY_MARKERS = {"id", "correlation_id"}


def is_legacy(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` looks like a legacy envelope (and not like a canonical one)."""
    return "event_id" not in document and (
        bool(_LEGACY_MARKERS & document.keys()) or isinstance(document.get("source"), str)
    )


def upgrade_legacy_envelope(document: Mapping[str, Any], *, host: str | None = None) -> dict[str, Any]:
    """The canonical envelope of a legacy one; validation of the result is the caller's job."""
    legacy_source = document.get("source")
    meta: dict[str, Any] = {}
    source: dict[str, Any]
    if isinstance(legacy_source, str):
        source = {"host": host or socket.gethostname(), "type": "system", "app": legacy_source}
        meta["legacy_source"] = legacy_source
    elif isinstance(legacy_source, Mapping):
        source = dict(legacy_source)
    else:
        source = {"host": host or socket.gethostname(), "type": "system"}
    correlation = document.get("correlation_ids")
    if correlation is None:
        single = document.get("correlation_id")
        correlation = [] if single in (None, "") else [single]
    extra = {k: v for k, v in document.items() if k not in _CANONICAL | {"id", "correlation_id"}}
    if extra:
        meta["legacy_fields"] = extra
    if meta:
        source["meta"] = {**dict(source.get("meta") or {}), **meta}
    upgraded: dict[str, Any] = {
        "event_id": document.get("event_id", document.get("id")),
        "event_type": document.get("event_type"),
        "timestamp": document.get("timestamp"),
        "version": document.get("version", ENVELOPE_VERSION),
        "source": source,
        "correlation_ids": correlation,
        "payload": document.get("payload"),
    }
    for optional in ("agent_context", "trace_context"):
        if optional in document:
            upgraded[optional] = document[optional]
    return upgraded
