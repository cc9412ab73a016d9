"""Bloodbank's Prometheus metrics (names from design.md), on a registry of their own."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PUBLISH_BUCKETS", "WEBHOOK_OUTCOMES", "WEBHOOK_SOURCES", "BloodbankMetrics"]

PUBLISH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; a confirmed publish takes a few milliseconds, a broker outage up to the publish timeout."""

WEBHOOK_SOURCES = ("github", "n8n")
WEBHOOK_OUTCOMES = (
    "accepted",  # published (202)
    "duplicate",  # a redelivery of a delivery id already published: answered as the first time, not published
    "ping",  # GitHub's ping: signature verified, answered 200, nothing published
    "disabled",  # the intake's secret is not set (404)
    "unauthorized",  # a missing or wrong signature (401)
    "limited",  # too many failed signatures from the address (429)
    "invalid",  # a body or headers that cannot be the event (422)
    "unavailable",  # the broker, the idempotency store or the rate limits could not be reached (503)
)
"""The labels of ``bloodbank_webhooks_total``; a body refused for its size or media type is counted before it
reaches the webhook routes, in ``http_requests_total``."""


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
        self.publish_duration = Histogram(
            "bloodbank_publish_duration_seconds",
            "From a publish call to the broker's confirm of its events: one observation per call and event type.",
            ["event_type"],
            buckets=PUBLISH_BUCKETS,
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
        self.signatures_refused = Counter(
            "bloodbank_signatures_refused",
            "Signatures refused, by stage (request: a signed publish request answered 401; consume: a bus message "
            "dead-lettered before handling because its signature did not verify or was missing).",
            ["stage"],
            registry=self.registry,
        )
        for stage in ("request", "consume"):  # from 0, so that the first refusal is an increase an alert sees
            self.signatures_refused.labels(stage)
        self.webhooks = Counter(
            "bloodbank_webhooks",
            "Webhook deliveries received at /webhooks/*, by source (github, n8n) and outcome (accepted, duplicate, "
            "ping, disabled, unauthorized, limited, invalid, unavailable).",
            ["source", "outcome"],
            registry=self.registry,
        )
        for source in WEBHOOK_SOURCES:  # from 0, as above
            for outcome in WEBHOOK_OUTCOMES:
                self.webhooks.labels(source, outcome)
        self.queue_messages = Gauge(
            "bloodbank_queue_messages",
            "Messages in a queue as the broker reports them, by state (ready; unacked: delivered, not settled).",
            ["queue", "state"],
            registry=self.registry,
        )
        self.consumers = Gauge(
            "bloodbank_consumers",
            "Consumers attached to a queue, as the broker reports them.",
            ["queue"],
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
