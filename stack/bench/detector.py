"""``33god bench detector``: the rule engine against the fixed-code rules it replaced, in one process, on one core.

The stream is the simulator's (:mod:`visibility.tools.retail_stream`): three teams' offers over
20 stores and 200 products, inventory snapshots of every product every 5 minutes, placements,
previews, near-threshold noise, late offers and 2 % planted conflicts, built once as payloads
(duplicates left out: the bus drops them before any handler).

* ours: :class:`visibility.domain.detection.DetectionEngine` with the default price and
  inventory rules written in the rule language, a fresh engine per pass (a pass over a stream
  the engine has seen would be all redeliveries), each event read from its payload;
* the baseline: the fixed-code rules of the first rules file (:mod:`stack.bench.fixed_rules`)
  with the same thresholds and windows, each event read from its payload into its dataclass;
  both sides see the offers and snapshots only (the fixed rules know no placements);
* a rules file of 20 rules (price thresholds, availability between teams, contradiction
  tables, slots) over the whole stream, placements included: what a larger file costs.

Passes alternate, ours and the baseline, until each has run ``seconds``; a snapshot counts
as one event. The per-event latencies come from one more pass of ours.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from stack.bench import fixed_rules
from visibility.domain.detection import DetectionEngine
from visibility.rules import RuleSet, load_rules, parse_rules
from visibility.tools.reference import OFFER_TYPE, PLACEMENT_TYPE
from visibility.tools.retail_stream import StreamConfig, plan_stream

__all__ = ["StreamEvent", "fixed_pass", "make_stream", "many_rules", "ours_pass", "run_detector"]

BASELINE_NAME = "fixed-code price and inventory rules of the first rules file, same thresholds and windows"
MANY_RULES = 20
_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A retail event as the detector's handler gets it: its type, payload and id."""

    event_type: str
    payload: dict[str, Any]
    event_id: str


def make_stream(rules: RuleSet, *, events: int = 100_000, seed: int = 11) -> list[StreamEvent]:
    """About ``events`` offers, snapshots and placements in arrival order, each once."""
    duration = 100.0
    config = StreamConfig(seed=seed, rate=events / duration, duration=duration, time_scale=10, stores=20, products=200)
    return [
        StreamEvent(event.event_type, event.payload(_START), event.event_id)
        for event in plan_stream(config, rules).events
        if not event.duplicate
    ]


def streaming_rules(rules: RuleSet) -> RuleSet:
    """The rules the fixed code also has: price and inventory (the slot rule left out)."""
    return rules.model_copy(update={"rules": tuple(rule for rule in rules.rules if not rule.compare.exclusive)})


def many_rules(rules: RuleSet, count: int = MANY_RULES) -> RuleSet:
    """``count`` rules in the shapes of the default ones, with other ids and parameters."""
    data = rules.model_dump()
    shapes = data["rules"]
    made = []
    for index in range(count):
        rule = dict(shapes[index % len(shapes)])
        rule["id"] = f"{rule['id']}-{index}"
        compare = dict(rule["compare"])
        if compare.get("relative_difference_above") is not None:
            compare["relative_difference_above"] = 3 + index % 10
        elif compare.get("contradiction") is not None and index % 2:
            compare = {"field": "availability", "different": True}
            rule["scope"], rule["truth"] = ["teams"], None
        rule["compare"] = {name: value for name, value in compare.items() if value not in (None, [], ())}
        made.append(rule)
    return parse_rules({**data, "rules": made}, source="bench")


def ours_pass(rules: RuleSet, stream: list[StreamEvent]) -> int:
    """One pass of a fresh rule engine over the stream; returns how many findings it made."""
    on_event = DetectionEngine(rules).on_event
    found = 0
    for event in stream:
        found += len(on_event(event.event_type, event.payload, event.event_id))
    return found


def fixed_pass(rules: RuleSet, stream: list[StreamEvent]) -> int:
    """One pass of the fixed-code rules, each event read into its dataclass first; returns the findings."""
    engine = fixed_rules.DetectionEngine(rules)
    on_offer, on_snapshot = engine.on_offer, engine.on_snapshot
    offer, snapshot = fixed_rules.Offer.from_payload, fixed_rules.Snapshot.from_payload
    found = 0
    for event in stream:
        if event.event_type == OFFER_TYPE:
            found += len(on_offer(offer(event.payload, event_id=event.event_id)))
        else:
            found += len(on_snapshot(snapshot(event.payload, event_id=event.event_id)))
    return found


def _latencies(rules: RuleSet, stream: list[StreamEvent]) -> list[int]:
    on_event = DetectionEngine(rules).on_event
    clock = time.perf_counter_ns
    samples = []
    for event in stream:
        started = clock()
        on_event(event.event_type, event.payload, event.event_id)
        samples.append(clock() - started)
    return samples


def _quantile(ordered: list[int], q: float) -> float:
    return float(ordered[min(int(q * len(ordered)), len(ordered) - 1)])


def _rates(sides: dict[str, Callable[[], object]], events: dict[str, int], seconds: float) -> dict[str, float]:
    """Events per second of each side, passes alternating until each has run ``seconds``."""
    spent = dict.fromkeys(sides, 0.0)
    done = dict.fromkeys(sides, 0)
    gc.collect()
    while min(spent.values()) < seconds:
        for name, run in sides.items():
            started = time.perf_counter()
            run()
            spent[name] += time.perf_counter() - started
            done[name] += events[name]
    return {name: done[name] / spent[name] for name in sides}


def run_detector(*, seconds: float, console: Console, events: int = 100_000) -> dict[str, Any]:
    rules = load_rules()
    two = streaming_rules(rules)
    twenty = many_rules(rules)
    with console.status("building the stream…"):
        stream = make_stream(rules, events=events)
    known = [event for event in stream if event.event_type != PLACEMENT_TYPE]
    findings = ours_pass(two, known)  # warm-up, and the counts the report shows
    fixed_findings = fixed_pass(two, known)
    many_findings = ours_pass(twenty, stream)
    with console.status("measuring the rule engine, the fixed rules and a 20-rule file, pass by pass…"):
        rates = _rates(
            {
                "ours": lambda: ours_pass(two, known),
                "fixed": lambda: fixed_pass(two, known),
                "many": lambda: ours_pass(twenty, stream),
            },
            {"ours": len(known), "fixed": len(known), "many": len(stream)},
            seconds,
        )
    latencies = sorted(_latencies(rules, stream))
    console.print(f"rule engine, 2 rules   {rates['ours']:>12,.0f} events/s ({findings:,} findings per pass)")
    console.print(f"fixed-code rules       {rates['fixed']:>12,.0f} events/s ({fixed_findings:,} findings per pass)")
    console.print(f"rule engine, 20 rules  {rates['many']:>12,.0f} events/s ({many_findings:,} findings per pass)")
    return {
        "bench": "detector",
        "unit": "events/s",
        "ours": round(rates["ours"]),
        "baseline": {"name": BASELINE_NAME, "value": round(rates["fixed"])},
        "ratio": round(rates["ours"] / rates["fixed"], 3),
        "twenty_rules": {"rules": len(twenty.rules), "events_per_second": round(rates["many"]), "events": len(stream)},
        "p50_ms": round(_quantile(latencies, 0.50) / 1e6, 5),
        "p95_ms": round(_quantile(latencies, 0.95) / 1e6, 5),
        "p99_ms": round(_quantile(latencies, 0.99) / 1e6, 5),
        "events": len(known),
        "offers": sum(1 for event in known if event.event_type == OFFER_TYPE),
        "snapshots": sum(1 for event in known if event.event_type != OFFER_TYPE),
        "findings_per_pass": findings,
        "fixed_findings_per_pass": fixed_findings,
        "rules": {rule.id: rule.version for rule in rules.rules},
    }
