"""The fixed rules' memory: each team's latest offer and the latest truth, per store and product.

Keyed by ``(store_id, product_id)`` so that every check is a dict lookup and costs
O(teams). What changed since the last :meth:`DetectorState.take_changes` is tracked, so
the detector can persist exactly that in the transaction that writes the conflicts it
caused, and :meth:`DetectorState.restore` rebuilds the memory after a restart.

An offer replaces its team's current one only when it is newer (by ``surfaced_at``); a
truth only when its snapshot is newer (by ``as_of``). An event already held (a
redelivery) or older than what is held (out of order) is refused, and the detector
does not check it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stack.bench.fixed_rules.observations import Offer, Truth

__all__ = ["DetectorState", "StateChanges"]

Key = tuple[str, str]
"""``(store_id, product_id)``."""


@dataclass(slots=True)
class StateChanges:
    """What changed since the last time they were taken: offers and truths to upsert, offers to forget."""

    offers: dict[tuple[str, str, str], Offer] = field(default_factory=dict)
    truths: dict[Key, Truth] = field(default_factory=dict)
    forgotten_before: float | None = None

    def __bool__(self) -> bool:
        return bool(self.offers or self.truths or self.forgotten_before is not None)


class DetectorState:
    """Latest offer per (store, product, team) and latest truth per (store, product)."""

    __slots__ = ("_changes", "offers", "truths")

    def __init__(self) -> None:
        self.offers: dict[Key, dict[str, Offer]] = {}
        self.truths: dict[Key, Truth] = {}
        self._changes = StateChanges()

    def put_offer(self, offer: Offer) -> bool:
        """Hold ``offer`` as its team's current one; False when it is held already or older than the held one."""
        key = (offer.store_id, offer.product_id)
        teams = self.offers.get(key)
        if teams is None:
            teams = self.offers[key] = {}
        held = teams.get(offer.team)
        if held is not None and (held.event_id == offer.event_id or held.at > offer.at):
            return False
        teams[offer.team] = offer
        self._changes.offers[offer.store_id, offer.product_id, offer.team] = offer
        return True

    def put_truth(self, truth: Truth) -> bool:
        """Hold ``truth`` for its product; False when it is held already or older than the held one."""
        key = (truth.store_id, truth.product_id)
        held = self.truths.get(key)
        if held is not None and (held.event_id == truth.event_id or held.at > truth.at):
            return False
        self.truths[key] = truth
        self._changes.truths[key] = truth
        return True

    def forget_offers_before(self, at: float) -> int:
        """Drop offers surfaced before ``at`` (epoch seconds); they no longer count. Returns how many."""
        dropped = 0
        for key in list(self.offers):
            teams = self.offers[key]
            for team in [team for team, offer in teams.items() if offer.at < at]:
                del teams[team]
                self._changes.offers.pop((key[0], key[1], team), None)
                dropped += 1
            if not teams:
                del self.offers[key]
        self._changes.forgotten_before = max(at, self._changes.forgotten_before or at)
        return dropped

    def take_changes(self) -> StateChanges:
        """What changed since the last call, and start tracking afresh."""
        changes, self._changes = self._changes, StateChanges()
        return changes

    def restore(self, offers: Iterable[Offer], truths: Iterable[Truth]) -> None:
        """Replace the memory with persisted offers and truths (nothing counts as changed)."""
        self.offers = {}
        self.truths = {}
        for offer in offers:
            self.offers.setdefault((offer.store_id, offer.product_id), {})[offer.team] = offer
        for truth in truths:
            self.truths[truth.store_id, truth.product_id] = truth
        self._changes = StateChanges()

    @property
    def offer_count(self) -> int:
        return sum(len(teams) for teams in self.offers.values())
