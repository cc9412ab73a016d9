"""The shared OKR "Accuracy to Reality": the proposal's figures, computed from what the store read.

* **conflict rate**: events that produced a conflict finding, in percent of the retail
  events evaluated (target < 2 %);
* **time to detect**: from when a conflict became true (its latest source event) to its
  detection, mean and p95 over the conflicts opened (target mean < 5 min);
* **resolution rate within 24 h**: conflicts resolved within the SLA of their detection,
  in percent of those opened in the period whose SLA has run out (target > 90 %). A
  conflict younger than the SLA is not due yet, even when already resolved: counting
  only the early resolutions would say 100 % before anything could be late. With none
  due the figure is ``None`` (nothing due yet), and ``resolutions_due`` is 0;
* **customer-impact incidents**: conflicts opened in the last 7 days that at least one
  customer saw (target < 10 a week);
* **disputed share**: resolutions that disputed the detection as a false positive, in
  percent of all resolutions.

Figures with nothing to measure are ``None`` (no events, no conflict yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["TARGETS", "Okr", "OkrInputs", "compute_okr", "percentile"]

TARGETS = {
    "conflict_rate_percent": ("<", 2.0),
    "time_to_detect_mean_seconds": ("<", 300.0),
    "resolution_rate_24h_percent": (">", 90.0),
    "customer_impact_incidents_7d": ("<", 10),
}
"""The proposal's six-month targets: (comparison, value)."""


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` (0..1) percentile by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class OkrInputs:
    """What the OKR figures are computed from."""

    counts: dict[str, int]
    detections: list[tuple[datetime, datetime]]
    """(occurred_at, detected_at) of each conflict opened in the period."""
    resolutions: list[tuple[datetime, datetime | None, str]]
    """(detected_at, resolved_at, status) of each conflict opened in the period."""
    customer_facing_week: int
    unresolved_now: int
    escalated_now: int


@dataclass(frozen=True, slots=True)
class Okr:
    """The figures of ``GET /okr``."""

    period_start: datetime
    period_end: datetime
    events: int
    conflicting_events: int
    conflicts_opened: int
    resolutions_due: int
    """Conflicts opened in the period whose SLA has run out: what the resolution rate is measured over."""
    conflict_rate_percent: float | None
    time_to_detect_mean_seconds: float | None
    time_to_detect_p95_seconds: float | None
    resolution_rate_24h_percent: float | None
    customer_impact_incidents_7d: int
    disputed_share_percent: float | None
    unresolved: int
    escalated: int
    unverifiable: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        figures = {
            "conflict_rate_percent": self.conflict_rate_percent,
            "time_to_detect_mean_seconds": self.time_to_detect_mean_seconds,
            "time_to_detect_p95_seconds": self.time_to_detect_p95_seconds,
            "resolution_rate_24h_percent": self.resolution_rate_24h_percent,
            "customer_impact_incidents_7d": self.customer_impact_incidents_7d,
            "disputed_share_percent": self.disputed_share_percent,
        }
        targets = {}
        for name, (comparison, target) in TARGETS.items():
            value = figures[name]
            met = None if value is None else (value < target if comparison == "<" else value > target)
            targets[name] = {"target": f"{comparison} {target:g}", "met": met}
        return {
            "period": {
                "since": self.period_start.isoformat().replace("+00:00", "Z"),
                "until": self.period_end.isoformat().replace("+00:00", "Z"),
            },
            **figures,
            "events": self.events,
            "conflicting_events": self.conflicting_events,
            "conflicts_opened": self.conflicts_opened,
            "resolutions_due": self.resolutions_due,
            "unresolved": self.unresolved,
            "escalated": self.escalated,
            "unverifiable": dict(sorted(self.unverifiable.items())),
            "targets": targets,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def compute_okr(inputs: OkrInputs, *, now: datetime, period: timedelta, sla: timedelta) -> Okr:
    """The OKR figures over ``[now - period, now]`` from what the store read."""
    counts = inputs.counts
    events = counts.get("events", 0)
    conflicting = counts.get("conflicting", 0)
    delays = [max((detected - occurred).total_seconds(), 0.0) for occurred, detected in inputs.detections]
    due = [(detected, resolved) for detected, resolved, _status in inputs.resolutions if detected <= now - sla]
    on_time = sum(1 for detected, resolved in due if resolved is not None and resolved - detected <= sla)
    resolved_statuses = [status for _, resolved, status in inputs.resolutions if resolved is not None]
    return Okr(
        period_start=now - period,
        period_end=now,
        events=events,
        conflicting_events=conflicting,
        conflicts_opened=len(inputs.detections),
        resolutions_due=len(due),
        conflict_rate_percent=_round(conflicting / events * 100.0) if events else None,
        time_to_detect_mean_seconds=_round(sum(delays) / len(delays)) if delays else None,
        time_to_detect_p95_seconds=_round(percentile(delays, 0.95)),
        resolution_rate_24h_percent=_round(on_time / len(due) * 100.0) if due else None,
        customer_impact_incidents_7d=inputs.customer_facing_week,
        disputed_share_percent=(
            _round(resolved_statuses.count("disputed") / len(resolved_statuses) * 100.0) if resolved_statuses else None
        ),
        unresolved=inputs.unresolved_now,
        escalated=inputs.escalated_now,
        unverifiable={
            name.removeprefix("unverifiable:"): value
            for name, value in counts.items()
            if name.startswith("unverifiable:")
        },
    )
