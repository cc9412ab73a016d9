"""A reference model of the detection rules: which conflicts a stream holds, for the simulator's labels.

It restates what the rules mean, independently of the detector, so that scoring the
detector against its output measures something:

* events are judged in arrival order, each event id once (the bus drops redeliveries);
* a team's offer for a product in a store counts while it is that team's latest one (by
  ``surfaced_at``); an offer older than the team's held one is stale and judged by no rule;
* two teams' offers are compared when surfaced within the offer window of each other;
  prices are apart by the difference in percent of the lower price, a conflict above the
  threshold;
* the inventory's latest snapshot of the product verifies an offer surfaced at most the
  truth window after its ``as_of`` (and at most the offer window before it); an offer
  shown ``in_stock``/``limited`` against 0 on hand, or ``out_of_stock`` against at least
  ``plenty_on_hand``, contradicts it; a new snapshot is checked against every team's
  latest offer of its products;
* a conflict is keyed by rule, product, store and sorted teams. It becomes true with the
  first event completing it, at the latest event time among its sources; nobody resolves
  conflicts during a simulation, so each key is one conflict: later occurrences are
  absorbed by the open one;
* an offer or placement no customer saw (``customer_facing: false``) is judged by no rule
  and changes nothing;
* two teams' placements in the same slot of the same page, channel and store within the
  screen-space window are a conflict, named by the later placement's product.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from visibility.rules import Rule, RuleSet, Scope
from visibility.tools.labels import ConflictKey, Label

__all__ = ["ArrivingEvent", "ReferenceModel", "reference_labels"]

OFFER_TYPE = "retail.offer.surfaced.v1"
SNAPSHOT_TYPE = "retail.inventory.snapshot.v1"
PLACEMENT_TYPE = "retail.placement.rendered.v1"
_SHOWN_IN_STOCK = ("in_stock", "limited")


@dataclass(frozen=True, slots=True)
class ArrivingEvent:
    """A retail event as the detector receives it: its id, type and complete payload."""

    event_id: str
    event_type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Said:
    """What one event said about one product in one store."""

    event_id: str
    moment: datetime
    seconds: float
    price: float
    currency: str
    availability: str = ""
    on_hand: int = 0
    product_id: str = ""


def _moment(value: str) -> tuple[datetime, float]:
    moment = datetime.fromisoformat(value)
    return moment, moment.timestamp()


def _gap_percent(a: float, b: float) -> float:
    """The difference of two prices in percent of the lower one."""
    if a == b:
        return 0.0
    low = min(a, b)
    return float("inf") if low <= 0 else abs(a - b) / low * 100.0


class ReferenceModel:
    """Feed events in arrival order with :meth:`on_event`; :attr:`labels` are the conflicts so far."""

    def __init__(self, rules: RuleSet) -> None:
        prices = [rule for rule in rules.rules if rule.compare.relative_difference_above is not None]
        windowed = prices or list(rules.rules)
        self._offer_window = windowed[0].window.total_seconds()
        self._truth_window = windowed[0].staleness.total_seconds()
        self.offer_window, self.truth_window = self._offer_window, self._truth_window
        self._team_thresholds = [(rule.id, _threshold(rule)) for rule in prices if Scope.TEAMS in rule.scope]
        self._truth_thresholds = [(rule.id, _threshold(rule)) for rule in prices if Scope.TRUTH in rule.scope]
        self.price_thresholds = self._team_thresholds + self._truth_thresholds
        self.plenty = [(rule.id, _plenty(rule)) for rule in rules.rules if rule.compare.contradiction is not None]
        self.slot_windows = [(rule.id, rule.window.total_seconds()) for rule in rules.rules if rule.compare.exclusive]
        self._seen: set[str] = set()
        self._offers: dict[tuple[str, str], dict[str, _Said]] = {}
        self._truths: dict[tuple[str, str], _Said] = {}
        self._placements: dict[tuple[str, str, str, str], dict[str, _Said]] = {}
        self._open: dict[ConflictKey, Label] = {}
        self._clashes: set[tuple[str, tuple[str, str, str, str], tuple[str, ...]]] = set()

    @property
    def labels(self) -> list[Label]:
        return list(self._open.values())

    def on_event(self, event: ArrivingEvent) -> None:
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        if event.payload.get("customer_facing") is False:
            return  # a preview: no customer saw it
        if event.event_type == OFFER_TYPE:
            self._on_offer(event.event_id, event.payload)
        elif event.event_type == SNAPSHOT_TYPE:
            self._on_snapshot(event.event_id, event.payload)
        elif event.event_type == PLACEMENT_TYPE:
            self._on_placement(event.event_id, event.payload)

    def _on_placement(self, event_id: str, payload: Mapping[str, Any]) -> None:
        moment, seconds = _moment(payload["rendered_at"])
        team, store, product = payload["team"], payload["store_id"], payload["product_id"]
        slot = (payload["page"], payload["slot"], payload["channel"], store)
        teams = self._placements.setdefault(slot, {})
        held = teams.get(team)
        if held is not None and held.seconds > seconds:
            return
        said = _Said(event_id, moment, seconds, 0.0, "", product_id=product)
        teams[team] = said
        for other, peer in teams.items():
            for rule_id, window in self.slot_windows:
                pair = tuple(sorted((team, other)))
                if (
                    other != team
                    and abs(peer.seconds - seconds) <= window
                    and (rule_id, slot, pair) not in self._clashes
                ):
                    self._clashes.add((rule_id, slot, pair))  # a slot's clash is one conflict, whatever is shown
                    self._raise(rule_id, store, product, (team, other), said, peer)

    def _on_offer(self, event_id: str, payload: Mapping[str, Any]) -> None:
        moment, seconds = _moment(payload["surfaced_at"])
        team, store, product = payload["team"], payload["store_id"], payload["product_id"]
        said = _Said(event_id, moment, seconds, float(payload["price"]), payload["currency"], payload["availability"])
        teams = self._offers.setdefault((store, product), {})
        held = teams.get(team)
        if held is not None and held.seconds > seconds:
            return  # stale: the team has said something newer already
        teams[team] = said
        for other, peer in teams.items():
            if other == team or abs(peer.seconds - seconds) > self._offer_window or peer.currency != said.currency:
                continue
            for rule_id, threshold in self._team_thresholds:
                if _gap_percent(said.price, peer.price) > threshold:
                    self._raise(rule_id, store, product, (team, other), said, peer)
        truth = self._truths.get((store, product))
        if truth is not None and self._verifies(truth, said):
            self._against_truth(store, product, team, said, truth)

    def _on_snapshot(self, event_id: str, payload: Mapping[str, Any]) -> None:
        moment, seconds = _moment(payload["as_of"])
        store, currency = payload["store_id"], payload.get("currency") or "USD"
        for item in payload["items"]:
            product = item["product_id"]
            held = self._truths.get((store, product))
            if held is not None and held.seconds > seconds:
                continue
            truth = _Said(event_id, moment, seconds, float(item["price"]), currency, on_hand=int(item["on_hand"]))
            self._truths[store, product] = truth
            for team, said in self._offers.get((store, product), {}).items():
                if self._verifies(truth, said):
                    self._against_truth(store, product, team, said, truth)

    def _verifies(self, truth: _Said, offer: _Said) -> bool:
        return -self._offer_window <= offer.seconds - truth.seconds <= self._truth_window

    def _against_truth(self, store: str, product: str, team: str, said: _Said, truth: _Said) -> None:
        if said.currency == truth.currency:
            for rule_id, threshold in self._truth_thresholds:
                if _gap_percent(said.price, truth.price) > threshold:
                    self._raise(rule_id, store, product, (team,), said, truth)
        for rule_id, plenty in self.plenty:
            shown = said.availability
            if (shown in _SHOWN_IN_STOCK and truth.on_hand == 0) or (
                shown == "out_of_stock" and truth.on_hand >= plenty
            ):
                self._raise(rule_id, store, product, (team,), said, truth)

    def _raise(self, rule_id: str, store: str, product: str, teams: tuple[str, ...], *sources: _Said) -> None:
        key: ConflictKey = (rule_id, product, store, tuple(sorted(teams)))
        if key in self._open:
            return
        self._open[key] = Label(
            rule=rule_id,
            product_id=product,
            store_id=store,
            teams=key[3],
            became_true_at=max(source.moment for source in sources),
            event_ids=tuple(source.event_id for source in sources),
        )


def _threshold(rule: Rule) -> float:
    assert rule.compare.relative_difference_above is not None  # noqa: S101 - chosen for it
    return rule.compare.relative_difference_above


def _plenty(rule: Rule) -> float:
    """On hand from which showing out_of_stock contradicts the truth (the default rule's second line)."""
    for line in rule.compare.contradiction or ():
        if "out_of_stock" in line.shown and line.truth.at_least is not None:
            return line.truth.at_least
    return float("inf")


def reference_labels(rules: RuleSet, events: Iterable[ArrivingEvent]) -> list[Label]:
    """The conflicts the rules find in ``events`` (in arrival order)."""
    model = ReferenceModel(rules)
    for event in events:
        model.on_event(event)
    return model.labels
