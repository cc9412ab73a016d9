"""Candystore's Prometheus metrics, each group registered on the registry passed in (the one ``/metrics`` serves).

The ingestor, the dead-letter keeper and the delivery manager each register their own group, so all can share
one registry.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DeadLetterMetrics", "DeliveryMetrics", "DeliveryOutcome", "IngestMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; the pipeline target is a p99 under 50 ms, so the buckets are fine around it."""
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds a receiver takes to answer: milliseconds on a local network, up to the longest timeout allowed."""


class IngestMetrics:
    """What the ingestor counts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.store = Counter(
            "candystore_store",
            "Events consumed, by outcome (stored, duplicate, conflict, invalid: dead-lettered as not storable, "
            "whether refused before or by the database).",
            ["outcome"],
            registry=self.registry,
        )
        self.signatures_refused = Counter(
            "candystore_signatures_refused",
            "Events dead-lettered before storing because their bus signature did not verify or was missing "
            "(also counted as invalid in candystore_store_total).",
            registry=self.registry,
        )
        self.e2e_latency = Histogram(
            "candystore_e2e_latency_seconds",
            "From an event's envelope timestamp to the commit that stored it.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


class DeadLetterMetrics:
    """What the dead-letter keeper counts."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.drained = Counter(
            "candystore_dead_letters_drained",
            "Dead letters drained from dlq.all, by outcome (kept; duplicate; reduced: refused as received, kept "
            "without its headers; dropped: not even its reduced form could be kept, logged).",
            ["outcome"],
            registry=self.registry,
        )
        self.by_state = Gauge(
            "candystore_dead_letters",
            "Dead letters kept, by state (open, resolved, discarded); refreshed from the database.",
            ["state"],
            registry=self.registry,
        )


class DeliveryOutcome(StrEnum):
    """What became of one event handed to a subscription (``candystore_deliveries_total{outcome}``)."""

    DELIVERED = "delivered"
    """The receiver answered 2xx and the delivery is recorded."""
    RETRIED = "retried"
    """The attempt failed and the event waits in a retry tier."""
    DEAD_LETTERED = "dead_lettered"
    """The receiver refused it for good, said it is gone, or the last tier failed: it is in the dead letters."""
    SKIPPED_DUPLICATE = "skipped_duplicate"
    """The subscription had delivered this event already (a redelivery, a replay): not sent again."""
    FILTERED = "filtered"
    """Its type or payload does not meet the subscription's patterns and filters: acknowledged, not sent."""


class DeliveryMetrics:
    """What the outbound deliveries count, per subscription."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.deliveries = Counter(
            "candystore_deliveries",
            "Events handed to an outbound subscription, by outcome (delivered, retried, dead_lettered, "
            "skipped_duplicate: delivered before; filtered: its payload does not meet the filters).",
            ["subscription", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "candystore_delivery_seconds",
            "From sending a delivery's request to the receiver's answer (or the failure), per attempt.",
            ["subscription"],
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "candystore_deliveries_in_flight",
            "Requests in flight to a subscription's receiver right now; at most its concurrency.",
            ["subscription"],
            registry=self.registry,
        )
