"""``33god bench detector``: the default rules over a realistic retail stream, in one process, on one core.

The stream is the simulator's (:mod:`visibility.tools.retail_stream`): three teams' offers over
20 stores and 200 products, inventory snapshots of every product every 5 minutes, near-
threshold noise, late offers and 2% planted conflicts, built once as ``Offer`` and
``Snapshot`` objects (duplicates left out: the bus drops them before any handler).

* ours: :class:`visibility.domain.detection.DetectionEngine` with the default rules, a fresh
  engine per pass (a pass over a stream the engine has seen would be all redeliveries);
* the baseline: a minimal plain-Python keyed check, a dict of each team's latest price
  per (store, product) and of the inventory's price, compared at 5%.

Passes alternate, ours and the baseline, until each has run ``seconds``; a snapshot
counts as one event. The per-event latencies come from one more pass of ours.
"""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from visibility.domain.detection import DetectionEngine, Offer, Snapshot
from visibility.rules import RuleSet, load_rules
from visibility.tools.reference import OFFER_TYPE
from visibility.tools.retail_stream import StreamConfig, plan_stream

__all__ = ["baseline_pass", "make_stream", "run_detector"]

Item = Offer | Snapshot
THRESHOLD = 0.05
BASELINE_NAME = "plain-Python keyed check (latest price per store, product and team; 5%)"
_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_stream(rules: RuleSet, *, events: int = 100_000, seed: int = 11) -> list[Item]:
    """About ``events`` offers and snapshots in arrival order, as the detector's handler builds them."""
    duration = 100.0
    config = StreamConfig(seed=seed, rate=events / duration, duration=duration, time_scale=10, stores=20, products=200)
    stream: list[Item] = []
    for event in plan_stream(config, rules).events:
        if event.duplicate:
            continue
        payload = event.payload(_START)
        timestamp = event.moment(_START)
        if event.event_type == OFFER_TYPE:
            stream.append(Offer.from_payload(payload, event_id=event.event_id, timestamp=timestamp))
        else:
            stream.append(Snapshot.from_payload(payload, event_id=event.event_id, timestamp=timestamp))
    return stream


def ours_pass(rules: RuleSet, stream: list[Item]) -> int:
    """One pass of a fresh engine over the stream; returns how many findings it made."""
    engine = DetectionEngine(rules)
    on_offer, on_snapshot = engine.on_offer, engine.on_snapshot
    found = 0
    for item in stream:
        found += len(on_offer(item) if isinstance(item, Offer) else on_snapshot(item))
    return found


def baseline_pass(stream: list[Item]) -> int:
    """The minimal keyed check: latest price per (store, product, team) and the inventory's, 5% apart."""
    latest: dict[tuple[str, str], dict[str, float]] = {}
    truth: dict[tuple[str, str], float] = {}
    found = 0
    for item in stream:
        if isinstance(item, Offer):
            offer = item
            key = (offer.store_id, offer.product_id)
            teams = latest.get(key)
            if teams is None:
                teams = latest[key] = {}
            price = offer.price
            for team, other in teams.items():
                if team != offer.team and abs(price - other) > THRESHOLD * min(price, other):
                    found += 1
            teams[offer.team] = price
            known = truth.get(key)
            if known is not None and abs(price - known) > THRESHOLD * min(price, known):
                found += 1
        else:
            store = item.store_id
            for line in item.items:
                truth[store, line.product_id] = line.price
    return found


def _latencies(rules: RuleSet, stream: list[Item]) -> list[int]:
    engine = DetectionEngine(rules)
    clock = time.perf_counter_ns
    samples = []
    for item in stream:
        started = clock()
        if isinstance(item, Offer):
            engine.on_offer(item)
        else:
            engine.on_snapshot(item)
        samples.append(clock() - started)
    return samples


def _quantile(ordered: list[int], q: float) -> float:
    return float(ordered[min(int(q * len(ordered)), len(ordered) - 1)])


def run_detector(*, seconds: float, console: Console, events: int = 100_000) -> dict[str, Any]:
    rules = load_rules()
    with console.status("building the stream…"):
        stream = make_stream(rules, events=events)
    offers = sum(1 for item in stream if isinstance(item, Offer))
    spent = {"ours": 0.0, "baseline": 0.0}
    done = {"ours": 0, "baseline": 0}
    findings = ours_pass(rules, stream)  # warm-up, and the count the report shows
    baseline_pass(stream)
    gc.collect()
    with console.status("measuring the detection engine and the keyed check, pass by pass…"):
        while min(spent.values()) < seconds:
            for side in ("ours", "baseline"):
                started = time.perf_counter()
                if side == "ours":
                    ours_pass(rules, stream)
                else:
                    baseline_pass(stream)
                spent[side] += time.perf_counter() - started
                done[side] += len(stream)
    ours_rate = done["ours"] / spent["ours"]
    base_rate = done["baseline"] / spent["baseline"]
    latencies = sorted(_latencies(rules, stream))
    console.print(f"detection engine  {ours_rate:>12,.0f} events/s ({findings:,} findings per pass)")
    console.print(f"keyed check       {base_rate:>12,.0f} events/s")
    return {
        "bench": "detector",
        "unit": "events/s",
        "ours": round(ours_rate),
        "baseline": {
            "name": "plain-Python keyed check (latest price per store, product and team; 5%)",
            "value": round(base_rate),
        },
        "ratio": round(ours_rate / base_rate, 3),
        "p50_ms": round(_quantile(latencies, 0.50) / 1e6, 5),
        "p95_ms": round(_quantile(latencies, 0.95) / 1e6, 5),
        "p99_ms": round(_quantile(latencies, 0.99) / 1e6, 5),
        "events": len(stream),
        "offers": offers,
        "snapshots": len(stream) - offers,
        "findings_per_pass": findings,
        "rules": {rule.id: rule.version for rule in rules.rules},
    }
