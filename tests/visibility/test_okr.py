"""The OKR figures: conflict rate, time to detect, resolution within the SLA, customer impact, disputed share."""

from __future__ import annotations

import math
from datetime import timedelta

from visibility.domain.okr import OkrInputs, compute_okr, percentile

from .retail import at

DAY = timedelta(days=1)


def test_figures_from_counters_and_conflicts():
    """Each figure follows its definition; targets say whether they are met."""
    now = at(0) + 3 * DAY
    inputs = OkrInputs(
        counts={"events": 400, "conflicting": 6, "unverifiable:price_mismatch": 3},
        detections=[(at(0), at(1)), (at(10), at(12)), (at(20), at(20.5)), (at(30), at(40))],
        resolutions=[
            (at(1), at(1) + timedelta(hours=2), "fixed"),  # within 24 h
            (at(12), at(12) + timedelta(hours=30), "disputed"),  # resolved late
            (at(20.5), None, "open"),  # due (older than 24 h) and unresolved
            (now - timedelta(hours=1), None, "open"),  # not due yet: left out
        ],
        customer_facing_week=3,
        unresolved_now=2,
        escalated_now=1,
    )
    okr = compute_okr(inputs, now=now, period=7 * DAY, sla=DAY)
    assert okr.conflict_rate_percent == 1.5
    assert okr.time_to_detect_mean_seconds == 3.375
    assert okr.time_to_detect_p95_seconds == 10.0
    assert okr.resolution_rate_24h_percent == 33.333
    assert okr.disputed_share_percent == 50.0
    assert okr.customer_impact_incidents_7d == 3
    assert okr.unverifiable == {"price_mismatch": 3}
    figures = okr.as_json()
    assert figures["targets"]["conflict_rate_percent"] == {"target": "< 2", "met": True}
    assert figures["targets"]["resolution_rate_24h_percent"] == {"target": "> 90", "met": False}
    assert figures["targets"]["customer_impact_incidents_7d"] == {"target": "< 10", "met": True}


def test_nothing_to_measure_is_none():
    """With no events and no conflicts the figures are None, not zero."""
    inputs = OkrInputs(
        counts={}, detections=[], resolutions=[], customer_facing_week=0, unresolved_now=0, escalated_now=0
    )
    okr = compute_okr(inputs, now=at(0), period=DAY, sla=DAY)
    assert (okr.conflict_rate_percent, okr.time_to_detect_mean_seconds, okr.resolution_rate_24h_percent) == (
        None,
        None,
        None,
    )
    assert okr.as_json()["targets"]["conflict_rate_percent"]["met"] is None


def test_percentile_is_nearest_rank():
    """p95 of 1..100 is 95; of one value, that value; of nothing, None."""
    assert percentile([float(v) for v in range(100, 0, -1)], 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None
    assert not math.isnan(percentile([1.0, 2.0], 0.5) or 0.0)
