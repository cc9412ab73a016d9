"""The payloads the visibility layer publishes: a conflict detected, escalated, resolved.

Their schemas are ``visibility.conflict.{detected,escalated,resolved}.v1``. A detected
event names the conflict's source events as its ``correlation_ids``; escalations and
resolutions name the detected event, so a conflict's trace in Candystore leads from
its resolution back to the retail events that caused it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from visibility.domain.records import ConflictRecord, as_utc

__all__ = ["DETECTED", "ESCALATED", "RESOLVED", "detected_payload", "escalated_payload", "resolved_payload"]

DETECTED = "visibility.conflict.detected.v1"
ESCALATED = "visibility.conflict.escalated.v1"
RESOLVED = "visibility.conflict.resolved.v1"

_RESOLUTIONS = {"fixed": "fixed", "accepted": "accepted", "disputed": "disputed"}


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def detected_payload(conflict: ConflictRecord) -> dict[str, Any]:
    return {
        "conflict_id": str(conflict.conflict_id),
        "rule": conflict.rule,
        "rule_version": conflict.rule_version,
        "severity": conflict.severity,
        "product_id": conflict.product_id,
        "store_id": conflict.store_id,
        "teams": list(conflict.teams),
        "source_event_ids": list(conflict.source_event_ids),
        "occurred_at": _iso(conflict.occurred_at),
        "detected_at": _iso(conflict.detected_at),
        "details": conflict.details,
        "occurrence_count": conflict.occurrence_count,
        "customer_facing": conflict.customer_facing,
    }


def escalated_payload(
    conflict: ConflictRecord, *, level: str, escalated_to: str, reason: str, at: datetime
) -> dict[str, Any]:
    return {
        "conflict_id": str(conflict.conflict_id),
        "rule": conflict.rule,
        "level": level,
        "escalated_to": escalated_to,
        "reason": reason,
        "severity": conflict.severity,
        "opened_at": _iso(conflict.detected_at),
        "escalated_at": _iso(at),
    }


def resolved_payload(conflict: ConflictRecord, *, actor: str, note: str | None, at: datetime) -> dict[str, Any]:
    return {
        "conflict_id": str(conflict.conflict_id),
        "rule": conflict.rule,
        "resolution": _RESOLUTIONS[conflict.status.value],
        "actor": actor,
        "note": note,
        "opened_at": _iso(conflict.detected_at),
        "resolved_at": _iso(at),
        "time_to_resolve_seconds": round(max((at - conflict.detected_at).total_seconds(), 0.0), 3),
    }
