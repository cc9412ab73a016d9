"""The detection of the first rules file, in fixed code: price mismatch and inventory contradiction only.

This is how the detector worked before the rule language: one hand-written class per rule
kind, reading offers and snapshots into dataclasses. ``33god bench detector`` runs it beside
the rule engine on the same events, so what the general language costs is measured; it
reads its thresholds and windows from a rules file's price and inventory rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stack.bench.fixed_rules.observations import IN_STOCK, Offer, Snapshot, Truth
from stack.bench.fixed_rules.state import DetectorState
from visibility.rules import Rule, RuleSet, Severity, percent_apart

__all__ = ["DetectionCounts", "DetectionEngine", "Finding", "Observation", "Offer", "Snapshot", "Truth"]

ConflictKey = tuple[str, str, str, tuple[str, ...]]
"""``(rule, product_id, store_id, sorted teams)``: what identifies a conflict while it is open."""


@dataclass(frozen=True, slots=True)
class PriceMismatchRule:
    """A price rule as the fixed code reads it: its threshold and what it compares with."""

    id: str
    version: int
    severity: Severity
    threshold_percent: float
    compare: tuple[str, ...]

    @classmethod
    def of(cls, rule: Rule) -> PriceMismatchRule:
        threshold = rule.compare.relative_difference_above or 0.0
        return cls(rule.id, rule.version, rule.severity, threshold, tuple(scope.value for scope in rule.scope))


@dataclass(frozen=True, slots=True)
class InventoryContradictionRule:
    """The inventory rule as the fixed code reads it: in stock against none on hand, out of stock against plenty."""

    id: str
    version: int
    severity: Severity
    plenty_on_hand: float

    @classmethod
    def of(cls, rule: Rule) -> InventoryContradictionRule:
        plenty = min(
            (line.truth.at_least for line in rule.compare.contradiction or () if line.truth.at_least is not None),
            default=float("inf"),
        )
        return cls(rule.id, rule.version, rule.severity, plenty)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one source event said (the ``Observation`` of ``visibility.conflict.detected.v1``)."""

    event_id: str
    source: str  # "offer" or "inventory"
    observed_at: datetime
    team: str | None = None
    price: float | None = None
    availability: str | None = None
    quantity: int | None = None
    on_hand: int | None = None
    currency: str | None = None

    @classmethod
    def of_offer(cls, offer: Offer) -> Observation:
        return cls(
            offer.event_id,
            "offer",
            offer.surfaced_at,
            team=offer.team,
            price=offer.price,
            availability=offer.availability,
            quantity=offer.quantity,
            currency=offer.currency,
        )

    @classmethod
    def of_truth(cls, truth: Truth) -> Observation:
        return cls(
            truth.event_id, "inventory", truth.as_of, price=truth.price, on_hand=truth.on_hand, currency=truth.currency
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "source": self.source,
            "price": self.price,
            "availability": self.availability,
            "quantity": self.quantity,
            "on_hand": self.on_hand,
            "observed_at": self.observed_at.isoformat(),
            "event_id": self.event_id,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule firing on one set of source events."""

    rule: str
    rule_version: int
    severity: str
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    observations: tuple[Observation, ...]
    occurred_at: datetime
    customer_facing: bool
    summary: str
    measured: float | None = None
    threshold: float | None = None

    @property
    def key(self) -> ConflictKey:
        return (self.rule, self.product_id, self.store_id, self.teams)

    @property
    def source_event_ids(self) -> tuple[str, ...]:
        return tuple(observation.event_id for observation in self.observations)

    @property
    def details(self) -> dict[str, Any]:
        """The ``details`` object of ``visibility.conflict.detected.v1``."""
        details: dict[str, Any] = {
            "summary": self.summary,
            "observations": [observation.as_json() for observation in self.observations],
        }
        if self.measured is not None:
            details["measured"] = round(self.measured, 3)
        if self.threshold is not None:
            details["threshold"] = self.threshold
        return details


@dataclass(slots=True)
class DetectionCounts:
    """What the engine evaluated since the counts were last taken."""

    offers: int = 0
    snapshots: int = 0
    ignored: int = 0  # redeliveries and events older than what is held
    conflicting: int = 0  # events that produced at least one finding
    unverifiable: dict[str, int] = field(default_factory=dict)  # by rule id

    @property
    def events(self) -> int:
        return self.offers + self.snapshots


def _price(value: float) -> str:
    return f"{value:.2f}"


def _percent(value: float) -> str:
    return "an unbounded share" if value == float("inf") else f"{value:.1f} %"


class DetectionEngine:
    """Evaluates the rules of a :class:`RuleSet` on each arriving offer and snapshot."""

    def __init__(
        self, rules: RuleSet, *, now: Callable[[], datetime] | None = None, state: DetectorState | None = None
    ) -> None:
        self.rules = rules
        self.state = state or DetectorState()
        self.counts = DetectionCounts()
        self._now = now
        self._clock = 0.0  # latest event time seen, epoch seconds
        prices = [PriceMismatchRule.of(rule) for rule in rules.rules if rule.compare.relative_difference_above]
        inventory = [InventoryContradictionRule.of(rule) for rule in rules.rules if rule.compare.contradiction]
        windowed = [rule for rule in rules.rules if not rule.compare.exclusive]
        self._offer_window = windowed[0].window.total_seconds()
        self._truth_window = windowed[0].staleness.total_seconds()
        self._peer_rules = [rule for rule in prices if "teams" in rule.compare]
        self._truth_price_rules = [rule for rule in prices if "truth" in rule.compare]
        self._inventory_rules = inventory

    def take_counts(self) -> DetectionCounts:
        """The counts since the last call; counting starts afresh."""
        counts, self.counts = self.counts, DetectionCounts()
        return counts

    def on_offer(self, offer: Offer) -> list[Finding]:
        """Hold the offer as its team's current one and check it against its peers and the truth."""
        if not offer.customer_facing:  # a preview: never compared (as the rule language has it)
            return []
        if not self.state.put_offer(offer):
            self.counts.ignored += 1
            return []
        self.counts.offers += 1
        self._clock = max(self._clock, offer.at)
        key = (offer.store_id, offer.product_id)
        findings: list[Finding] = []
        if self._peer_rules:
            self._against_peers(offer, self.state.offers[key], findings)
        if self._truth_price_rules or self._inventory_rules:
            truth = self.state.truths.get(key)
            if truth is not None and self._verifies(truth, offer):
                self._against_truth(offer, truth, findings)
            else:
                self._cannot_verify(offer)
        if findings:
            self.counts.conflicting += 1
        return findings

    def on_snapshot(self, snapshot: Snapshot) -> list[Finding]:
        """Hold each product's truth and check every team's current offer of the store against it."""
        findings: list[Finding] = []
        applied = False
        offers = self.state.offers
        for truth in snapshot.truths():
            if not self.state.put_truth(truth):
                continue
            applied = True
            teams = offers.get((truth.store_id, truth.product_id))
            if not teams:
                continue
            for offer in teams.values():
                if self._verifies(truth, offer):
                    self._against_truth(offer, truth, findings)
        if not applied:
            self.counts.ignored += 1
            return findings
        self.counts.snapshots += 1
        self._clock = max(self._clock, snapshot.as_of.timestamp())
        if findings:
            self.counts.conflicting += 1
        return findings

    def prune(self) -> int:
        """Forget offers older than the offer window (by ``now``, or the latest event time); returns how many."""
        now = self._now().timestamp() if self._now is not None else self._clock
        return self.state.forget_offers_before(now - self._offer_window)

    def _verifies(self, truth: Truth, offer: Offer) -> bool:
        lag = offer.at - truth.at
        return -self._offer_window <= lag <= self._truth_window

    def _against_peers(self, offer: Offer, peers: Mapping[str, Offer], findings: list[Finding]) -> None:
        window = self._offer_window
        for team, peer in peers.items():
            if team == offer.team or abs(peer.at - offer.at) > window:
                continue
            for rule in self._peer_rules:
                if peer.currency != offer.currency:
                    self._unverifiable(rule.id)
                    continue
                apart = percent_apart(offer.price, peer.price)
                if apart > rule.threshold_percent:
                    findings.append(self._peer_price(rule, offer, peer, apart))

    def _cannot_verify(self, offer: Offer) -> None:
        for rule in self._truth_price_rules:
            self._unverifiable(rule.id)
        if offer.availability != "unknown":  # an unknown availability contradicts nothing
            for inventory_rule in self._inventory_rules:
                self._unverifiable(inventory_rule.id)

    def _unverifiable(self, rule_id: str) -> None:
        unverifiable = self.counts.unverifiable
        unverifiable[rule_id] = unverifiable.get(rule_id, 0) + 1

    def _against_truth(self, offer: Offer, truth: Truth, findings: list[Finding]) -> None:
        for rule in self._truth_price_rules:
            if truth.currency != offer.currency:
                self._unverifiable(rule.id)
                continue
            apart = percent_apart(offer.price, truth.price)
            if apart > rule.threshold_percent:
                findings.append(self._truth_price(rule, offer, truth, apart))
        availability = offer.availability
        findings.extend(
            self._inventory(rule, offer, truth)
            for rule in self._inventory_rules
            if (availability in IN_STOCK and truth.on_hand == 0)
            or (availability == "out_of_stock" and truth.on_hand >= rule.plenty_on_hand)
        )

    @staticmethod
    def _occurred(*times: datetime) -> datetime:
        return max(times).astimezone(UTC)

    def _peer_price(self, rule: PriceMismatchRule, offer: Offer, peer: Offer, apart: float) -> Finding:
        first, second = (peer, offer) if (peer.at, peer.team) <= (offer.at, offer.team) else (offer, peer)
        return Finding(
            rule=rule.id,
            rule_version=rule.version,
            severity=rule.severity.value,
            product_id=offer.product_id,
            store_id=offer.store_id,
            teams=tuple(sorted((offer.team, peer.team))),
            observations=(Observation.of_offer(first), Observation.of_offer(second)),
            occurred_at=self._occurred(offer.surfaced_at, peer.surfaced_at),
            customer_facing=offer.customer_facing or peer.customer_facing,
            summary=(
                f"{second.team} showed {_price(second.price)} {second.currency} for product {offer.product_id} at "
                f"{offer.store_id} while {first.team} showed {_price(first.price)} {first.currency} "
                f"({_percent(apart)} apart, threshold {rule.threshold_percent:g} %)."
            ),
            measured=None if apart == float("inf") else apart,
            threshold=rule.threshold_percent,
        )

    def _truth_price(self, rule: PriceMismatchRule, offer: Offer, truth: Truth, apart: float) -> Finding:
        return Finding(
            rule=rule.id,
            rule_version=rule.version,
            severity=rule.severity.value,
            product_id=offer.product_id,
            store_id=offer.store_id,
            teams=(offer.team,),
            observations=(Observation.of_offer(offer), Observation.of_truth(truth)),
            occurred_at=self._occurred(offer.surfaced_at, truth.as_of),
            customer_facing=offer.customer_facing,
            summary=(
                f"{offer.team} showed {_price(offer.price)} {offer.currency} for product {offer.product_id} at "
                f"{offer.store_id} while the inventory price is {_price(truth.price)} {truth.currency} "
                f"({_percent(apart)} apart, threshold {rule.threshold_percent:g} %)."
            ),
            measured=None if apart == float("inf") else apart,
            threshold=rule.threshold_percent,
        )

    def _inventory(self, rule: InventoryContradictionRule, offer: Offer, truth: Truth) -> Finding:
        shown = offer.availability.replace("_", " ")
        if offer.quantity is not None and offer.availability in IN_STOCK:
            shown += f" ({offer.quantity} units)"
        told = "told a customer" if offer.customer_facing else "showed (not to a customer)"
        return Finding(
            rule=rule.id,
            rule_version=rule.version,
            severity=rule.severity.value,
            product_id=offer.product_id,
            store_id=offer.store_id,
            teams=(offer.team,),
            observations=(Observation.of_offer(offer), Observation.of_truth(truth)),
            occurred_at=self._occurred(offer.surfaced_at, truth.as_of),
            customer_facing=offer.customer_facing,
            summary=(
                f"{offer.team} {told} product {offer.product_id} is {shown} at {offer.store_id}, "
                f"but the inventory shows {truth.on_hand} on hand."
            ),
            measured=float(truth.on_hand),
            threshold=None if offer.availability in IN_STOCK else float(rule.plenty_on_hand),
        )
