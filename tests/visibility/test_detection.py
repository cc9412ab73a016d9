"""The detection engine: each rule in both arrival orders, thresholds, windows and unverifiable checks."""

from __future__ import annotations

import pytest

from visibility.domain.detection import DetectionEngine
from visibility.rules import load_rules, percent_apart

from .retail import at, check, offer, placement, snapshot

MINUTE = 60.0


@pytest.fixture
def engine():
    return DetectionEngine(load_rules())


def test_price_mismatch_between_teams_fires_whichever_offer_comes_second(engine):
    """Two teams 6 % apart give one finding naming both teams, both events, and the later time."""
    first = offer("sponsored", price=10.6, seconds=5)
    second = offer("magic-apron", price=10.0, seconds=20)
    assert check(engine, first) == []
    [finding] = check(engine, second)
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
    check(reversed_engine, offer("magic-apron", price=10.0, seconds=20))
    [again] = check(reversed_engine, offer("sponsored", price=10.6, seconds=5))  # out of order
    assert again.key == finding.key
    assert again.occurred_at == at(20)


def test_a_difference_of_exactly_the_threshold_is_no_conflict(engine):
    """5 % apart is within the rule; just above it is a conflict."""
    assert percent_apart(20.0, 21.0) == 5.0
    check(engine, offer("magic-apron", price=20.0))
    assert check(engine, offer("sponsored", price=21.0, seconds=1)) == []
    [finding] = check(engine, offer("recs-search", price=21.01, seconds=2))
    assert finding.teams == ("magic-apron", "recs-search")  # sponsored's 21.0 is within 5 % of 21.01


def test_offers_outside_the_offer_window_are_not_peers(engine):
    """An offer surfaced more than 15 minutes before another is no longer what that team shows."""
    check(engine, offer("sponsored", price=15.0))
    assert check(engine, offer("magic-apron", price=10.0, seconds=15 * MINUTE + 1)) == []


def test_price_against_the_truth_in_both_arrival_orders(engine):
    """An offer priced off the inventory conflicts when it arrives after the snapshot and when before."""
    check(engine, snapshot(seconds=0, items={"p1": (20, 10.0)}))
    [finding] = check(engine, offer("recs-search", price=11.0, seconds=30))
    assert (finding.rule, finding.teams) == ("price_mismatch", ("recs-search",))
    assert [o.source for o in finding.observations] == ["offer", "inventory"]
    assert finding.occurred_at == at(30)

    later = DetectionEngine(load_rules())
    check(later, offer("recs-search", price=11.0, seconds=30))
    [found] = check(later, snapshot(seconds=60, items={"p1": (20, 10.0)}))
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
            findings = check(engine, shown) + check(engine, truth)
        else:
            findings = check(engine, truth) + check(engine, shown)
        rules = [finding.rule for finding in findings]
        assert rules == (["inventory_contradiction"] if conflict else []), (offer_first, findings)


def test_inventory_finding_carries_the_evidence(engine):
    """The finding says who showed what and what the inventory says, as the detected event's details."""
    check(engine, snapshot(items={"p1": (0, 10.0)}))
    [finding] = check(engine, offer("magic-apron", availability="in_stock", quantity=12, seconds=5))
    assert finding.severity == "high"
    assert finding.summary == (
        "magic-apron showed availability in stock (12 units) for product p1 at s1, but the inventory's on hand is 0."
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
        "fields": {"product_id": "p1", "store_id": "s1", "on_hand": 0},
    }
    assert (details["measured"], details["threshold"]) == (0, 0)
    assert finding.customer_facing


def test_stale_or_missing_truth_is_unverifiable_not_a_conflict(engine):
    """Without a snapshot within the truth window the checks are counted as unverifiable."""
    check(engine, offer("magic-apron", availability="in_stock", price=99.0, seconds=0))
    check(engine, snapshot(seconds=MINUTE, items={"p1": (0, 10.0)}))  # this one does conflict
    engine.take_counts()
    assert check(engine, offer("sponsored", availability="in_stock", price=99.0, seconds=11 * MINUTE + 1)) == []
    counts = engine.take_counts()
    assert counts.unverifiable == {"price_mismatch": 1, "inventory_contradiction": 1}
    assert counts.events == 1
    assert check(engine, offer("recs-search", product="p2", availability="unknown")) == []
    assert engine.counts.unverifiable == {"price_mismatch": 1}  # unknown availability checks no inventory


def test_a_snapshot_far_after_an_offer_does_not_judge_it(engine):
    """An offer older than the offer window at the snapshot's time is no longer shown: not checked."""
    check(engine, offer("magic-apron", availability="in_stock", seconds=0))
    assert check(engine, snapshot(seconds=15 * MINUTE + 1, items={"p1": (0, 10.0)})) == []


def test_redeliveries_and_superseded_events_are_not_checked_again(engine):
    """The same event twice, or an older offer of the same team, changes nothing and finds nothing."""
    check(engine, snapshot(items={"p1": (0, 10.0)}))
    shown = offer("magic-apron", availability="in_stock", seconds=30)
    assert len(check(engine, shown)) == 1
    assert check(engine, shown) == []
    assert check(engine, offer("magic-apron", availability="in_stock", seconds=10)) == []
    assert engine.counts.ignored == 2
    truth = snapshot(seconds=40, items={"p1": (0, 10.0)})
    assert len(check(engine, truth)) == 1
    assert check(engine, truth) == []


def test_other_currencies_are_not_compared(engine):
    """A price in another currency cannot be judged against USD: unverifiable."""
    check(engine, offer("magic-apron", price=10.0))
    assert check(engine, offer("sponsored", price=50.0, currency="EUR", seconds=1)) == []
    assert engine.counts.unverifiable["price_mismatch"] >= 1


def test_previews_never_open_join_or_count_toward_a_conflict(engine):
    """An offer no customer saw is counted as a preview: it is not compared, not held, and not an event checked."""
    check(engine, snapshot(items={"p1": (0, 10.0)}))
    check(engine, offer("magic-apron", price=10.0))
    engine.take_counts()
    assert (
        check(engine, offer("sponsored", price=30.0, availability="in_stock", customer_facing=False, seconds=1)) == []
    )
    counts = engine.take_counts()
    assert (counts.previews, counts.events, counts.conflicting, counts.unverifiable) == (1, 0, 0, {})
    assert check(engine, offer("recs-search", price=10.1, availability="unknown", seconds=2)) == []  # no preview joined
    assert set(engine.state.view("offer:product_id,store_id")[("p1", "s1")]) == {"magic-apron", "recs-search"}


def test_screen_space_two_teams_in_one_slot_conflict_whatever_they_show(engine):
    """Two teams rendering into the same slot of a page for the same audience within 10 minutes is one conflict."""
    assert check(engine, placement("sponsored", product="p1", seconds=0)) == []
    [finding] = check(engine, placement("recs-search", product="p9", seconds=60))
    assert (finding.rule, finding.teams, finding.severity) == ("screen_space", ("recs-search", "sponsored"), "medium")
    assert finding.entity == ("home", "hero", "web", "s1")
    assert (finding.product_id, finding.store_id) == ("p9", "s1")
    assert finding.summary == (
        "recs-search and sponsored both claimed slot hero of page home (web, s1) within 10 minutes."
    )
    assert finding.details["observations"][1]["fields"] == {
        "page": "home", "slot": "hero", "channel": "web", "store_id": "s1"
    }  # fmt: skip


@pytest.mark.parametrize(
    "other",
    [
        {"slot": "carousel-1"},
        {"page": "category/paint"},
        {"channel": "app"},
        {"store": "s2"},
        {"seconds": 10 * MINUTE + 1},
        {"customer_facing": False},
    ],
)
def test_screen_space_needs_the_same_slot_page_audience_and_window(engine, other):
    """Another slot, page, channel or store, a render outside the window, or a preview is no clash."""
    check(engine, placement("sponsored", seconds=0))
    assert check(engine, placement("recs-search", **{"seconds": 60, **other})) == []


def test_one_team_rendering_a_slot_again_is_no_clash(engine):
    """A team replacing its own content in its slot claims nothing new."""
    check(engine, placement("sponsored", product="p1", seconds=0))
    assert check(engine, placement("sponsored", product="p2", seconds=30)) == []


def test_prune_forgets_offers_older_than_the_window(engine):
    """Expired offers leave the memory; the change is tracked for persistence."""
    check(engine, offer("magic-apron", seconds=0))
    check(engine, offer("sponsored", product="p2", seconds=20 * MINUTE))
    engine.state.take_changes()
    assert engine.prune() == 1
    assert engine.state.observation_count == 1
    forgotten = engine.state.take_changes().forgotten_before
    assert forgotten["offer:product_id,store_id"] == at(5 * MINUTE).timestamp()
    assert forgotten["placement:page,slot,channel,store_id"] == at(10 * MINUTE).timestamp()
