"""Bloodbank's Prometheus metrics (names from design.md), on a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["BloodbankMetrics"]


class BloodbankMetrics:
    """The counters one Bloodbank process exports on ``/metrics``."""

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
