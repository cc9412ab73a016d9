"""The detection engine: each rule in both arrival orders, thresholds, windows and unverifiable checks."""

from __future__ import annotations

import pytest

from visibility.domain.detection import DetectionEngine
from visibility.rules import load_rules, percent_apart

from .retail import at, offer, snapshot

MINUTE = 60.0


@pytest.fixture
def engine():
    return DetectionEngine(load_rules())


def test_price_mismatch_between_teams_fires_whichever_offer_comes_second(engine):
    """Two teams 6 % apart give one finding naming both teams, both events, and the later time."""
    first = offer("sponsored", price=10.6, seconds=5)
    second = offer("magic-apron", price=10.0, seconds=20)
    assert engine.on_offer(first) == []
    [finding] = engine.on_offer(second)
    assert finding.rule == "price_mismatch"
    assert finding.teams == ("magic-apron", "sponsored")
    assert set(finding.source_event_ids) == {first.event_id, second.event_id}
    assert finding.occurred_at == at(20)
    assert finding.measured == pytest.approx(6.0)
    assert finding.threshold == 5
    assert finding.severity == "medium"
    assert finding.summary == (
        "magic-apron showed 10.00 USD for product p1 at s1 while sponsored showed 10.60 USD "
        "(6.0 % apart, threshold 5 %)."
    )

    reversed_engine = DetectionEngine(load_rules())
    reversed_engine.on_offer(offer("magic-apron", price=10.0, seconds=20))
    [again] = reversed_engine.on_offer(offer("sponsored", price=10.6, seconds=5))  # out of order
    assert again.key == finding.key
    assert again.occurred_at == at(20)


def test_a_difference_of_exactly_the_threshold_is_no_conflict(engine):
    """5 % apart is within the rule; just above it is a conflict."""
    assert percent_apart(20.0, 21.0) == 5.0
    engine.on_offer(offer("magic-apron", price=20.0))
    assert engine.on_offer(offer("sponsored", price=21.0, seconds=1)) == []
    [finding] = engine.on_offer(offer("recs-search", price=21.01, seconds=2))
    assert finding.teams == ("magic-apron", "recs-search")  # sponsored's 21.0 is within 5 % of 21.01


def test_offers_outside_the_offer_window_are_not_peers(engine):
    """An offer surfaced more than 15 minutes before another is no longer what that team shows."""
    engine.on_offer(offer("sponsored", price=15.0))
    assert engine.on_offer(offer("magic-apron", price=10.0, seconds=15 * MINUTE + 1)) == []


def test_price_against_the_truth_in_both_arrival_orders(engine):
    """An offer priced off the inventory conflicts when it arrives after the snapshot and when before."""
    engine.on_snapshot(snapshot(seconds=0, items={"p1": (20, 10.0)}))
    [finding] = engine.on_offer(offer("recs-search", price=11.0, seconds=30))
    assert (finding.rule, finding.teams) == ("price_mismatch", ("recs-search",))
    assert [o.source for o in finding.observations] == ["offer", "inventory"]
    assert finding.occurred_at == at(30)

    later = DetectionEngine(load_rules())
    later.on_offer(offer("recs-search", price=11.0, seconds=30))
    [found] = later.on_snapshot(snapshot(seconds=60, items={"p1": (20, 10.0)}))
    assert found.key == finding.key
    assert found.occurred_at == at(60)


@pytest.mark.parametrize(
    ("availability", "on_hand", "conflict"),
    [
        ("in_stock", 0, True),
        ("limited", 0, True),
        ("in_stock", 1, False),
        ("out_of_stock", 10, True),
        ("out_of_stock", 9, False),
        ("out_of_stock", 0, False),
        ("unknown", 0, False),
    ],
)
def test_inventory_contradiction_thresholds(availability, on_hand, conflict):
    """In stock against 0 on hand, and out of stock against plenty (10 or more), contradict the truth."""
    for offer_first in (True, False):
        engine = DetectionEngine(load_rules())
        shown = offer("magic-apron", availability=availability, quantity=3, seconds=10)
        truth = snapshot(seconds=20, items={"p1": (on_hand, 10.0)})
        if offer_first:
            findings = engine.on_offer(shown) + engine.on_snapshot(truth)
        else:
            findings = engine.on_snapshot(truth) + engine.on_offer(shown)
        rules = [finding.rule for finding in findings]
        assert rules == (["inventory_contradiction"] if conflict else []), (offer_first, findings)


def test_inventory_finding_carries_the_evidence(engine):
    """The finding says who showed what and what the inventory says, as the detected event's details."""
    engine.on_snapshot(snapshot(items={"p1": (0, 10.0)}))
    [finding] = engine.on_offer(offer("magic-apron", availability="in_stock", quantity=12, seconds=5))
    assert finding.severity == "high"
    assert finding.summary == (
        "magic-apron told a customer product p1 is in stock (12 units) at s1, but the inventory shows 0 on hand."
    )
    details = finding.details
    assert details["observations"][0]["availability"] == "in_stock"
    assert details["observations"][1] == {
        "team": None,
        "source": "inventory",
        "price": 10.0,
        "availability": None,
        "quantity": None,
        "on_hand": 0,
        "observed_at": at(0).isoformat(),
        "event_id": finding.source_event_ids[1],
    }
    assert finding.customer_facing


def test_stale_or_missing_truth_is_unverifiable_not_a_conflict(engine):
    """Without a snapshot within the truth window the checks are counted as unverifiable."""
    engine.on_offer(offer("magic-apron", availability="in_stock", price=99.0, seconds=0))
    engine.on_snapshot(snapshot(seconds=MINUTE, items={"p1": (0, 10.0)}))  # this one does conflict
    engine.take_counts()
    assert engine.on_offer(offer("sponsored", availability="in_stock", price=99.0, seconds=11 * MINUTE + 1)) == []
    counts = engine.take_counts()
    assert counts.unverifiable == {"price_mismatch": 1, "inventory_contradiction": 1}
    assert counts.offers == 1
    assert engine.on_offer(offer("recs-search", product="p2", availability="unknown")) == []
    assert engine.counts.unverifiable == {"price_mismatch": 1}  # unknown availability checks no inventory


def test_a_snapshot_far_after_an_offer_does_not_judge_it(engine):
    """An offer older than the offer window at the snapshot's time is no longer shown: not checked."""
    engine.on_offer(offer("magic-apron", availability="in_stock", seconds=0))
    assert engine.on_snapshot(snapshot(seconds=15 * MINUTE + 1, items={"p1": (0, 10.0)})) == []


def test_redeliveries_and_superseded_events_are_not_checked_again(engine):
    """The same event twice, or an older offer of the same team, changes nothing and finds nothing."""
    engine.on_snapshot(snapshot(items={"p1": (0, 10.0)}))
    shown = offer("magic-apron", availability="in_stock", seconds=30)
    assert len(engine.on_offer(shown)) == 1
    assert engine.on_offer(shown) == []
    assert engine.on_offer(offer("magic-apron", availability="in_stock", seconds=10)) == []
    assert engine.counts.ignored == 2
    truth = snapshot(seconds=40, items={"p1": (0, 10.0)})
    assert len(engine.on_snapshot(truth)) == 1
    assert engine.on_snapshot(truth) == []


def test_other_currencies_are_not_compared(engine):
    """A price in another currency cannot be judged against USD: unverifiable."""
    engine.on_offer(offer("magic-apron", price=10.0))
    assert engine.on_offer(offer("sponsored", price=50.0, currency="EUR", seconds=1)) == []
    assert engine.counts.unverifiable["price_mismatch"] >= 1


def test_customer_facing_follows_the_offers(engine):
    """A conflict between offers nobody saw is not customer-facing."""
    engine.on_offer(offer("magic-apron", price=10.0, customer_facing=False))
    [finding] = engine.on_offer(offer("sponsored", price=12.0, customer_facing=False, seconds=1))
    assert not finding.customer_facing


def test_prune_forgets_offers_older_than_the_window(engine):
    """Expired offers leave the memory; the change is tracked for persistence."""
    engine.on_offer(offer("magic-apron", seconds=0))
    engine.on_offer(offer("sponsored", product="p2", seconds=20 * MINUTE))
    engine.state.take_changes()
    assert engine.prune() == 1
    assert engine.state.offer_count == 1
    assert engine.state.take_changes().forgotten_before == at(5 * MINUTE).timestamp()
