"""Bloodbank's Prometheus metrics (names from design.md), on a registry of their own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["BloodbankMetrics"]


class BloodbankMetrics:
    """The counters and gauges one Bloodbank process exports on ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.publish = Counter(
            "bloodbank_publish_total",
            "Events offered for publishing, by outcome (ok, invalid, failed, unavailable, unrouted).",
            ["event_type", "outcome"],
            registry=self.registry,
        )
        self.validation = Counter(
            "bloodbank_validation_total",
            "Envelope and payload validations, by stage (publish, consume) and result (valid, invalid).",
            ["stage", "result"],
            registry=self.registry,
        )
        self.consume = Counter(
            "bloodbank_consume_total",
            "Deliveries settled by consumers, by outcome (ack, retry, dlq).",
            ["consumer", "outcome"],
            registry=self.registry,
        )
        self.broker_blocked = Gauge(
            "bloodbank_broker_blocked",
            "1 while the broker blocks this process's publishing (a memory or disk alarm), else 0.",
            registry=self.registry,
        )

    def report_blocked(self, blocked: Callable[[], bool]) -> None:
        """Read ``bloodbank_broker_blocked`` from ``blocked`` (e.g. the transport's) at each scrape."""
        self.broker_blocked.set_function(lambda: 1.0 if blocked() else 0.0)
