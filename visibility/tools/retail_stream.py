"""A realistic retail stream, planned ahead from a seed: offers of three teams, inventory snapshots, and trouble.

The world: ``stores`` stores each holding ``products`` products (some out of stock), whose
inventory publishes a snapshot every 5 minutes of stream time (now and then one is lost
to an outage). Teams surface offers at ``rate`` events per second (Poisson arrivals,
popular products more often), reading price and stock from the inventory, with small
legitimate price differences of their own. On top of that:

* **near-threshold noise**: prices just under the threshold from everything they are
  compared with, which must not raise a conflict;
* **injected conflicts** (``conflict_rate`` of the offers): a price far from, or just over
  the threshold from, another team's or the inventory's; a product shown in stock with
  none on hand, or out of stock with plenty; a product selling out while teams still show
  it (caught when the snapshot arrives). The team fixes its offer a few minutes later;
* **screen space**: each slot of each page belongs to one team, which renders into it; a
  planted clash is another team rendering into a slot its owner rendered minutes before
  (same page, channel and store);
* **previews and other currencies**, which must never raise a conflict: offers no customer
  saw (``customer_facing: false``) priced far off, and offers in Canadian dollars whose
  numbers are far from the US-dollar prices;
* **duplicates**: an event published twice (the same envelope);
* **out-of-order arrival**: offers published late, overtaken by later ones.

Every other offer is steered so that it conflicts with nothing it is compared with: the
share of conflicts stays what was asked. Which conflicts the stream holds is not decided
here but by :mod:`visibility.tools.reference` over the events in publishing order.

Stream time runs ``time_scale`` times faster than the wall clock: an event due
``publish_at`` seconds after the start carries the time ``started_at + at``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bloodbank.envelope import uuid7
from visibility.rules import RuleSet
from visibility.tools.reference import OFFER_TYPE, PLACEMENT_TYPE, SNAPSHOT_TYPE, ReferenceModel
from visibility.tools.stream_plan import SNAPSHOT_EVERY, Injection, PlannedEvent, Stream, StreamConfig

__all__ = ["TEAMS", "Injection", "PlannedEvent", "Stream", "StreamConfig", "plan_stream"]

TEAMS = ("magic-apron", "recs-search", "sponsored")
_TEAM_WEIGHTS = (0.45, 0.80, 1.0)  # cumulative: 45 %, 35 %, 20 %
_CHANNELS = {"magic-apron": ("app", "voice", "in_store"), "recs-search": ("web", "app"), "sponsored": ("web", "email")}
_NOISE = 0.01  # a team's own price differs from the inventory's by up to 1 %
_DRIFT = 0.012  # the inventory's price of a product moves by up to 1.2 % between snapshots
MAX_LATENESS = 0.5
"""Wall-clock seconds a late offer is published after it was surfaced, at most."""
_EDGE = 5.0  # seconds of stream time kept clear of a window's edge (see _clear_of_edges)
_INJECTIONS = tuple(Injection)
_INJECTION_WEIGHTS = (0.25, 0.20, 0.15, 0.10, 0.15, 0.15)
PAGES = ("home", "search", "category/paint", "category/tools", "category/garden")
SLOTS = ("hero", "carousel-1", "carousel-2", "sidebar")
_PLACEMENT_SHARE = 0.15  # placements per offer
_PREVIEW_SHARE = 0.03
_OTHER_CURRENCY_SHARE = 0.02
_CAD_PER_USD = 1.36


_Slot = tuple[str, str, str, str]
"""Page, slot, channel and store: one audience's view of one slot."""


@dataclass(slots=True)
class _Shown:
    at: float
    price: float
    availability: str
    currency: str = "USD"


class _Planner:
    """Walks stream time, keeping the world (inventory, each team's latest offer) as it goes."""

    def __init__(self, config: StreamConfig, rules: RuleSet, new_id: Callable[[], str]) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311 - reproducible test data, not secrets
        self.late_rng = random.Random(config.seed + 2)  # noqa: S311 - apart, so lateness does not reshape the world
        self.new_id = new_id
        reference = ReferenceModel(rules)  # the rules' parameters, as the labels will read them
        self.threshold = min((threshold for _, threshold in reference.price_thresholds), default=5.0) / 100.0
        self.plenty = int(min(max((plenty for _, plenty in reference.plenty), default=10), 10_000))
        self.offer_window = reference.offer_window
        self.truth_window = reference.truth_window
        self.slot_window = min((window for _, window in reference.slot_windows), default=600.0)
        self.horizon = config.duration * config.time_scale
        self.stores = [f"store-{number:04d}" for number in sorted(self.rng.sample(range(1, 10_000), config.stores))]
        self.products = [
            str(number) for number in self.rng.sample(range(1_000_000_000, 9_999_999_999), config.products)
        ]
        # Popularity follows Zipf's law: a few products are surfaced far more often.
        self.popularity = list(itertools.accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(config.products)))
        self.price: dict[tuple[str, str], float] = {}
        self.on_hand: dict[tuple[str, str], int] = {}
        for store in self.stores:
            for product in self.products:
                base = self.rng.choice((2.97, 5.29, 12.47, 19.98, 39.98, 64.0, 129.0, 249.0, 599.0))
                self.price[store, product] = round(base * self.rng.uniform(0.9, 1.1), 2)
                self.on_hand[store, product] = 0 if self.rng.random() < 0.08 else int(self.rng.lognormvariate(3, 0.8))  # noqa: PLR2004
        self.truth_at: dict[str, float] = {}
        self.snapshot_ids: dict[str, str] = {}
        self.shown: dict[tuple[str, str], dict[str, _Shown]] = {}
        self.recent: deque[tuple[str, str, str, float]] = deque(maxlen=500)
        self.stockouts: dict[str, set[str]] = {store: set() for store in self.stores}
        self.fixes: list[tuple[float, int, str, str, str]] = []
        self.owners = {(page, slot): self.rng.choice(TEAMS) for page in PAGES for slot in SLOTS}
        self.rendered: deque[tuple[float, _Slot]] = deque(maxlen=200)
        self.clashes: set[tuple[str, str, str, str]] = set()  # product, the two teams, store
        self.events: list[PlannedEvent] = []
        self.planted: Counter[str] = Counter()

    # --- the timeline ------------------------------------------------------------------

    def run(self) -> list[PlannedEvent]:
        config = self.config
        offer_rate = (config.rate - config.snapshot_rate) / config.time_scale  # per second of stream time
        snapshots = [(index * 0.01, store) for index, store in enumerate(self.stores)]
        heapq.heapify(snapshots)
        next_offer = self.rng.expovariate(offer_rate)
        while True:
            due_snapshot = snapshots[0][0]
            due_fix = self.fixes[0][0] if self.fixes else math.inf
            now = min(next_offer, due_snapshot, due_fix)
            if now > self.horizon:
                break
            if now == due_snapshot:
                _, store = heapq.heappop(snapshots)
                self.snapshot(now, store, first=store not in self.truth_at)
                heapq.heappush(snapshots, (now + SNAPSHOT_EVERY, store))
            elif now == due_fix:
                _, _, team, store, product = heapq.heappop(self.fixes)
                self.offer(now, team, store, product, note="fix")
            else:
                self.random_offer(now)
                next_offer = now + self.rng.expovariate(offer_rate)
        return self.events

    def snapshot(self, at: float, store: str, *, first: bool) -> None:
        if not first and self.rng.random() < self.config.outage_share:
            self.planted["snapshot_outage"] += 1
            return  # the inventory feed was down: the truth goes stale
        for product in self.products:
            key = (store, product)
            if self.rng.random() < 0.02:  # noqa: PLR2004 - a few prices move a little
                self.price[key] = round(self.price[key] * (1 + self.rng.uniform(-_DRIFT, _DRIFT)), 2)
            if self.on_hand[key] > 0:
                self.on_hand[key] = max(1, self.on_hand[key] + self.rng.randint(-3, 3))
        for product in sorted(self.stockouts[store]):
            if self._clear_of_edges(store, product, at, lateness=0.0):
                self.on_hand[store, product] = 0
                self.planted[Injection.STOCKOUT] += 1
        self.stockouts[store].clear()
        items = [
            {"product_id": product, "on_hand": self.on_hand[store, product], "price": self.price[store, product]}
            for product in self.products
        ]
        self.truth_at[store] = at
        body = {"store_id": store, "currency": "USD", "items": items}
        self.snapshot_ids[store] = self._emit(at, SNAPSHOT_TYPE, body, "inventory", "snapshot")

    def random_offer(self, at: float) -> None:
        team = self.rng.choices(TEAMS, cum_weights=_TEAM_WEIGHTS)[0]
        store = self.rng.choice(self.stores)
        product = self.rng.choices(self.products, cum_weights=self.popularity)[0]
        if self.rng.random() < _PLACEMENT_SHARE:
            self.placement(at, store, product)
            return
        if self.rng.random() < self.config.conflict_rate:
            kind = self.rng.choices(_INJECTIONS, _INJECTION_WEIGHTS)[0]
            if self.plant(at, kind, team, store, product):
                return
        draw = self.rng.random()
        if draw < _PREVIEW_SHARE:
            self.preview(at, team, store, product)
        elif draw < _PREVIEW_SHARE + _OTHER_CURRENCY_SHARE:
            self.offer(at, team, store, product, note="other_currency", currency="CAD")
        else:
            note = "near_threshold" if self.rng.random() < self.config.near_threshold_share else "offer"
            self.offer(at, team, store, product, note=note)

    # --- placements ------------------------------------------------------------------------

    def placement(self, at: float, store: str, product: str) -> None:
        """The owner of a random slot renders into it."""
        where = (self.rng.choice(PAGES), self.rng.choice(SLOTS), self.rng.choice(("web", "app")), store)
        self.render(at, self.owners[where[0], where[1]], where, product, note="placement")

    def clash(self, at: float, team: str) -> bool:
        """Another team renders into a slot its owner rendered recently, for the same audience.

        Its product is one no other clash of the two teams in that store showed: a conflict is
        reported by product and store, so two clashes never look like one.
        """
        for seen_at, where in reversed(self.rendered):
            if at - seen_at > self.slot_window / 2:
                return False
            owner = self.owners[where[0], where[1]]
            if owner == team:
                continue
            first, second = sorted((team, owner))
            for product in self.rng.sample(self.products, min(20, len(self.products))):
                if (product, first, second, where[3]) not in self.clashes:
                    self.clashes.add((product, first, second, where[3]))
                    self.render(at, team, where, product, note=Injection.SCREEN_SPACE.value)
                    self.planted[Injection.SCREEN_SPACE] += 1
                    return True
            return False
        return False

    def render(self, at: float, team: str, where: _Slot, product: str, *, note: str) -> None:
        page, slot, channel, store = where
        body = {"team": team, "page": page, "slot": slot, "product_id": product, "channel": channel, "store_id": store}
        if self.owners[page, slot] == team:
            self.rendered.append((at, where))
        self._emit(at, PLACEMENT_TYPE, body, team, note)

    def preview(self, at: float, team: str, store: str, product: str) -> None:
        """An offer no customer saw, priced far off: it must raise nothing."""
        body = {
            "team": team,
            "product_id": product,
            "store_id": store,
            "price": round(self.price[store, product] * self.rng.uniform(1.3, 2.0), 2),
            "currency": "USD",
            "availability": self.rng.choice(("in_stock", "out_of_stock")),
            "customer_facing": False,
        }
        self._emit(at, OFFER_TYPE, body, team, "preview")

    # --- offers --------------------------------------------------------------------------

    def offer(
        self,
        at: float,
        team: str,
        store: str,
        product: str,
        *,
        note: str,
        price: float | None = None,
        availability: str | None = None,
        currency: str = "USD",
    ) -> None:
        key = (store, product)
        on_hand = self.on_hand[key]
        if availability is None:
            availability = self._availability(on_hand)
        if price is None and currency != "USD":
            price = round(self.price[key] * _CAD_PER_USD, 2)  # never compared with dollars
        elif price is None:
            wanted = self.price[key] * (1 + self.rng.uniform(-_NOISE, _NOISE))
            price = self._steer(at, team, store, product, wanted, edge=note == "near_threshold")
        body: dict[str, Any] = {
            "team": team,
            "product_id": product,
            "store_id": store,
            "price": price,
            "currency": currency,
            "availability": availability,
            "channel": self.rng.choice(_CHANNELS[team]),
        }
        if self.rng.random() < 0.5:  # noqa: PLR2004 - said outright half the time, else the schema's default
            body["customer_facing"] = True
        if availability in {"in_stock", "limited"} and self.rng.random() < 0.4:  # noqa: PLR2004
            body["quantity"] = max(on_hand, 1) if availability == "limited" else on_hand or self.rng.randint(3, 40)
        lateness = self._lateness(at, store, product) if note in {"offer", "fix"} else 0.0
        self.shown.setdefault(key, {})[team] = _Shown(at, price, availability, currency)
        self.recent.append((store, product, team, at))
        parents = (self.snapshot_ids[store],) if store in self.snapshot_ids else ()
        self._emit(at, OFFER_TYPE, body, team, note, lateness=lateness, parents=parents)

    def _lateness(self, at: float, store: str, product: str) -> float:
        """Wall-clock seconds an offer is published late: overtaken by a few to a few dozen offers.

        At most :data:`MAX_LATENESS`: a late offer's delay counts in the time to detect the
        conflicts it completes (they were true from its ``surfaced_at``).
        """
        if self.late_rng.random() >= self.config.late_share:
            return 0.0
        lateness = min(self.late_rng.uniform(2, 30) / (self.config.rate - self.config.snapshot_rate), MAX_LATENESS)
        clear = self._clear_of_edges(store, product, at, lateness=lateness * self.config.time_scale)
        return lateness if clear else 0.0

    def _availability(self, on_hand: int) -> str:
        if self.rng.random() < 0.02:  # noqa: PLR2004 - a team that does not know
            return "unknown"
        if on_hand == 0:
            return "out_of_stock"
        return "limited" if on_hand <= 5 else "in_stock"  # noqa: PLR2004

    def _comparators(self, at: float, team: str, store: str, product: str) -> list[tuple[float, float]]:
        """(price, allowed fraction apart) of everything the offer will be compared with."""
        # Kept further from the truth: the next snapshot may move its price by up to _DRIFT.
        found = [(self.price[store, product], 0.92 * self.threshold - _DRIFT)]
        for other, shown in self.shown.get((store, product), {}).items():
            if other != team and shown.currency == "USD" and abs(at - shown.at) <= self.offer_window + _EDGE:
                found.append((shown.price, 0.92 * self.threshold))
        return found

    def _steer(self, at: float, team: str, store: str, product: str, wanted: float, *, edge: bool) -> float:
        """A price as close to ``wanted`` as conflicts with nothing (or at the edge of what does, for noise)."""
        low, high = 0.01, math.inf
        for price, allowed in self._comparators(at, team, store, product):
            low, high = max(low, price / (1 + allowed)), min(high, price * (1 + allowed))
        low, high = math.ceil(low * 100) / 100, math.floor(high * 100) / 100
        if low > high:
            return round(wanted, 2)  # peers already disagree: nothing is safe, keep the team's price
        if edge and high < math.inf:
            return self.rng.choice((low, high))
        return min(max(round(wanted, 2), low), high)

    # --- planted conflicts -----------------------------------------------------------------

    def plant(self, at: float, kind: Injection, team: str, store: str, product: str) -> bool:
        """Plant a conflict of ``kind`` (on this or a nearby product); False when none fits right now."""
        if kind is Injection.SCREEN_SPACE:
            return self.clash(at, team)
        return self._plant_offer(at, kind, team, store, product)

    def _plant_offer(self, at: float, kind: Injection, team: str, store: str, product: str) -> bool:
        if kind is Injection.PRICE_BETWEEN_TEAMS:
            peer = self._recent_peer(at, team)
            if peer is None:
                return False
            store, product, other = peer
            shown = self.shown[store, product][other]
            price = self._apart(shown.price)
            return self._planted(at, kind, team, store, product, price=price)
        if kind is Injection.PRICE_VS_TRUTH:
            return self._planted(at, kind, team, store, product, price=self._apart(self.price[store, product]))
        if kind is Injection.STOCKOUT:
            if self.on_hand[store, product] > 0:
                self.stockouts[store].add(product)
            return False  # planted at the next snapshot; this offer goes out as usual
        wanted_zero = kind is Injection.PHANTOM_STOCK
        candidates = [
            item
            for item in self.products
            if (self.on_hand[store, item] == 0) == wanted_zero
            and (wanted_zero or self.on_hand[store, item] >= self.plenty + 5)
        ]
        if not candidates:
            return False
        product = self.rng.choice(candidates)
        availability = self.rng.choice(("in_stock", "limited")) if wanted_zero else "out_of_stock"
        return self._planted(at, kind, team, store, product, availability=availability)

    def _planted(
        self,
        at: float,
        kind: Injection,
        team: str,
        store: str,
        product: str,
        *,
        price: float | None = None,
        availability: str | None = None,
    ) -> bool:
        if not self._clear_of_edges(store, product, at, lateness=0.0):
            return False
        self.offer(at, team, store, product, note=kind.value, price=price, availability=availability)
        self.planted[kind] += 1
        fix_at = at + self.rng.uniform(30.0, 240.0)
        heapq.heappush(self.fixes, (fix_at, len(self.events), team, store, product))
        return True

    def _recent_peer(self, at: float, team: str) -> tuple[str, str, str] | None:
        """A product another team surfaced recently (within half the offer window) and still shows."""
        for store, product, other, seen_at in reversed(self.recent):
            if at - seen_at > self.offer_window / 2:
                return None
            current = self.shown[store, product].get(other)
            if other != team and current is not None and current.at == seen_at and current.currency == "USD":
                return store, product, other
        return None

    def _apart(self, price: float) -> float:
        """A price clearly apart from ``price``, or just over the threshold (a third of the time)."""
        gap = self.rng.uniform(1.06, 1.12) if self.rng.random() < 1 / 3 else self.rng.uniform(1.3, 5.0)
        gap = 1 + self.threshold * gap
        return math.ceil(price * gap * 100) / 100 if self.rng.random() < 0.5 else math.floor(price / gap * 100) / 100  # noqa: PLR2004

    def _clear_of_edges(self, store: str, product: str, at: float, *, lateness: float) -> bool:
        """No other offer of the product sits at the offer window's edge from ``at``.

        A detector forgets offers once they leave the window; when it does so a little
        early or late is its own business, so conflicts are planted away from that edge.
        """
        window = self.offer_window
        return all(
            not (window - _EDGE - lateness <= at - shown.at <= window + _EDGE)
            for shown in self.shown.get((store, product), {}).values()
        )

    # --- events ----------------------------------------------------------------------------

    def _emit(
        self,
        at: float,
        event_type: str,
        body: dict[str, Any],
        app: str,
        note: str,
        *,
        lateness: float = 0.0,
        parents: tuple[str, ...] = (),
    ) -> str:
        publish_at = at / self.config.time_scale + lateness
        event_id = self.new_id()
        event = PlannedEvent(publish_at, at, event_type, event_id, body, app, note, late=lateness > 0, parents=parents)
        self.events.append(event)
        return event_id


def _duplicate(config: StreamConfig, events: list[PlannedEvent], rng: random.Random) -> list[PlannedEvent]:
    """Publish some events twice (the same envelope, up to a second apart); returns publishing order."""
    out: list[PlannedEvent] = []
    for event in events:
        out.append(event)
        if rng.random() < config.duplicate_share:
            out.append(replace(event, publish_at=event.publish_at + rng.uniform(0.01, 1.0), duplicate=True))
    out.sort(key=lambda event: event.publish_at)
    return out


def plan_stream(config: StreamConfig, rules: RuleSet, *, new_id: Callable[[], str] = uuid7) -> Stream:
    """Plan the whole stream of ``config`` (deterministic for a seed and an ``new_id`` sequence)."""
    planner = _Planner(config, rules, new_id)
    events = planner.run()
    ordered = _duplicate(config, events, random.Random(config.seed + 1))  # noqa: S311 - test data
    planted = Counter(planner.planted)
    planted["duplicates"] = sum(1 for event in ordered if event.duplicate)
    planted["late"] = sum(1 for event in ordered if event.late)
    return Stream(config, ordered, planted)
