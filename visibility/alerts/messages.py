"""Slack messages a person can read at a glance: what contradicts what, and a link to act on it.

Each message has a plain ``text`` (what notifications and clients without blocks show)
and ``blocks`` with the same content laid out. A group lists its conflicts (up to
:data:`MAX_LISTED`): product, store, teams, the values on each side and the link
``{ui}/conflicts/{id}``. An escalation says to whom and at which level it went, why,
and what the conflict is, with the same link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from visibility.domain.escalation import describe_duration
from visibility.domain.records import ConflictRecord
from visibility.rules import EscalationStep

__all__ = ["MAX_LISTED", "conflicts_message", "escalation_message", "side", "spike_message"]

MAX_LISTED = 10
"""Conflicts listed in one message; the rest are counted."""


def side(observation: Mapping[str, Any]) -> str:
    """One observation as a person says it: ``magic-apron: 39.98, in stock (12)`` or ``inventory: 39.98, 0 on hand``."""
    who = observation.get("team") or "inventory"
    parts = []
    if observation.get("price") is not None:
        parts.append(f"{observation['price']:.2f}")
    if observation.get("source") == "inventory":
        parts.append(f"{observation.get('on_hand')} on hand")
    elif observation.get("availability"):
        shown = str(observation["availability"]).replace("_", " ")
        if observation.get("quantity") is not None:
            shown += f" ({observation['quantity']})"
        parts.append(shown)
    return f"{who}: {', '.join(parts)}"


def _line(conflict: ConflictRecord, ui_base: str) -> str:
    observations = conflict.details.get("observations", [])
    sides = " vs ".join(side(observation) for observation in observations)
    link = f"{ui_base}/conflicts/{conflict.conflict_id}"
    facing = "" if conflict.customer_facing else " (not customer-facing)"
    return (
        f"• product {conflict.product_id} at {conflict.store_id}, teams {', '.join(conflict.teams)}{facing}: "
        f"{sides} <{link}|open>"
    )


def conflicts_message(
    rule: str,
    conflicts: Sequence[ConflictRecord],
    *,
    ui_base: str,
    first_responder: str | None = None,
) -> dict[str, Any]:
    """One message for a rule's new conflicts."""
    count = len(conflicts)
    severity = conflicts[0].severity if conflicts else "unknown"
    title = f"{count} new {rule} conflict{'s' if count != 1 else ''} ({severity})"
    lines = [_line(conflict, ui_base) for conflict in conflicts[:MAX_LISTED]]
    if count > MAX_LISTED:
        lines.append(f"… and {count - MAX_LISTED} more: {ui_base}/conflicts?rule={rule}&status=open")
    if count == 1 and conflicts[0].details.get("summary"):
        lines.insert(0, str(conflicts[0].details["summary"]))
    footer = f"First responder: {first_responder}." if first_responder else ""
    text = "\n".join([f"*{title}*", *lines, footer]).strip()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
    ]
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": text, "blocks": blocks}


def spike_message(
    *, rate_percent: float, threshold_percent: float, events: int, conflicting: int, window: timedelta, ui_base: str
) -> dict[str, Any]:
    """The message saying the conflict rate passed its threshold."""
    title = f"Conflict rate spike: {rate_percent:.1f} % of events in the last {describe_duration(window)}"
    body = (
        f"{conflicting} of {events} retail events contradicted another team or the inventory "
        f"(threshold {threshold_percent:g} %). See {ui_base}/conflicts?status=open"
    )
    return {
        "text": f"*{title}*\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        ],
    }


_LEVELS = {"decision_authority": "decision authority", "executive": "executive"}


def escalation_message(conflict: ConflictRecord, step: EscalationStep, reason: str, *, ui_base: str) -> dict[str, Any]:
    """The message of one escalation step: to whom, at which level, why, and the conflict with its link."""
    level = _LEVELS.get(step.level.value, step.level.value)
    title = f"Escalated to {step.to} ({level}): {conflict.rule} conflict ({conflict.severity}, {conflict.status.value})"
    summary = conflict.details.get("summary")
    lines = [reason]
    if summary:
        lines.append(str(summary))
    lines.append(_line(conflict, ui_base))
    text = "\n".join([f"*{title}*", *lines])
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
        ],
    }
