"""The visibility layer's Prometheus metrics, registered on the registry ``/metrics`` serves.

``visibility_conflicts_total{rule}`` and ``visibility_detect_latency_seconds`` are the
names of design.md; the OKR gauges are refreshed from the store by the service, shares as ``_ratio`` in 0-1.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from visibility.domain.okr import Okr
from visibility.domain.rule_health import RuleHealth

__all__ = ["DETECT_BUCKETS", "VisibilityMetrics"]

DETECT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
"""Seconds; the target is a p95 under 1 s on RabbitMQ (the proposal asks under 5 minutes)."""

_OKR_GAUGES = {
    "conflict_rate_ratio": "Retail events that produced a conflict, as a share (0-1) of those evaluated.",
    "time_to_detect_mean_seconds": "Mean seconds from a conflict becoming true to its detection.",
    "resolution_rate_24h_ratio": "Conflicts resolved within 24 h of detection, as a share (0-1) of those due.",
    "customer_impact_incidents_7d": "Conflicts a customer saw, opened in the last 7 days.",
    "disputed_share_ratio": "Resolutions that disputed the detection, as a share (0-1) of all resolutions.",
}
"""Each gauge's help; its value is the OKR figure of the same name (``_ratio`` from the figure's ``_percent``).

Percentiles of the time to detect come from ``visibility_detect_latency_seconds`` in PromQL, never a gauge."""

_FROM_PERCENT = "_ratio"


class VisibilityMetrics:
    """What the detector, the alerts and the OKR refresher count."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.conflicts = Counter("visibility_conflicts", "Conflicts opened, by rule.", ["rule"], registry=self.registry)
        self.detect_latency = Histogram(
            "visibility_detect_latency_seconds",
            "From when a conflict became true (its latest source event) to its detection.",
            buckets=DETECT_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "visibility_events", "Retail events evaluated, by type.", ["event_type"], registry=self.registry
        )
        self.unverifiable = Counter(
            "visibility_unverifiable_checks",
            "Checks that could not be made (no fresh truth, other currency), by rule.",
            ["rule"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "visibility_alert_deliveries",
            "Slack deliveries, by outcome (delivered, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.rules_reloads = Counter(
            "visibility_rules_reloads",
            "Changes of the rules file picked up while running, by outcome (applied, refused).",
            ["outcome"],
            registry=self.registry,
        )
        self.rule_disputed_share = Gauge(
            "visibility_rule_disputed_share_ratio",
            "Resolutions of a rule's conflicts that were disputes, as a share (0-1), over the rule's window.",
            ["rule"],
            registry=self.registry,
        )
        self.rule_flagged = Gauge(
            "visibility_rule_flagged",
            "1 while a rule's disputed share is past its limit (its false positives need a change), else 0.",
            ["rule"],
            registry=self.registry,
        )
        self.okr = {
            name: Gauge(f"visibility_okr_{name}", help_text, registry=self.registry)
            for name, help_text in _OKR_GAUGES.items()
        }

    def set_rule_health(self, health: Sequence[RuleHealth]) -> None:
        """Show each rule's disputed share (NaN while nothing is resolved) and whether it is flagged."""
        for judged in health:
            share = judged.disputed_share_percent
            self.rule_disputed_share.labels(judged.rule).set(float("nan") if share is None else share / 100)
            self.rule_flagged.labels(judged.rule).set(1 if judged.flagged else 0)

    def set_okr(self, okr: Okr) -> None:
        """Show the latest OKR figures (a figure with nothing to measure is NaN)."""
        figures = okr.as_json()
        for name, gauge in self.okr.items():
            if name.endswith(_FROM_PERCENT):
                percent = figures[name.removesuffix(_FROM_PERCENT) + "_percent"]
                value = None if percent is None else percent / 100
            else:
                value = figures[name]
            gauge.set(float("nan") if value is None else float(value))
