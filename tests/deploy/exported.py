"""The series the platform exports, as the rules, alerts and dashboards in ``deploy/`` may name them.

One list for the tests of ``deploy/``; ``tests/stack/test_up.py`` checks it against what a
running ``33god up`` really exposes, so it cannot drift from the services.
"""

from __future__ import annotations

HISTOGRAMS = frozenset(
    {
        "http_request_duration_seconds",
        "bloodbank_publish_duration_seconds",
        "candystore_e2e_latency_seconds",
        "candystore_delivery_seconds",
        "visibility_detect_latency_seconds",
    }
)
"""Each is three series to Prometheus: ``_bucket``, ``_sum`` and ``_count``."""

SERIES = frozenset(
    {
        # every service
        "http_requests_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "platform_build_info",
        # bloodbank
        "bloodbank_publish_total",
        "bloodbank_validation_total",
        "bloodbank_consume_total",
        "bloodbank_broker_blocked",
        "bloodbank_queue_messages",
        "bloodbank_consumers",
        "bloodbank_signatures_refused_total",
        "bloodbank_webhooks_total",
        # candystore
        "candystore_store_total",
        "candystore_dead_letters",
        "candystore_dead_letters_drained_total",
        "candystore_ingest_oldest_held_seconds",
        "candystore_unrouted_total",
        "candystore_signatures_refused_total",
        "candystore_deliveries_total",
        "candystore_deliveries_in_flight",
        # visibility
        "visibility_conflicts_total",
        "visibility_events_total",
        "visibility_unverifiable_checks_total",
        "visibility_alert_deliveries_total",
        "visibility_okr_conflict_rate_ratio",
        "visibility_okr_time_to_detect_mean_seconds",
        "visibility_okr_resolution_rate_24h_ratio",
        "visibility_okr_customer_impact_incidents_7d",
        "visibility_okr_disputed_share_ratio",
        "visibility_rule_disputed_share_ratio",
        "visibility_rule_flagged",
        "visibility_rules_reloads_total",
    }
)
"""The counters (with ``_total``) and gauges."""

EXPORTED = SERIES | {f"{histogram}{suffix}" for histogram in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
"""Every series name a query over the platform may use."""
