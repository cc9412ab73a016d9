"""`33god bench detector`: the stream it measures on, both sides doing real work, and its JSON line."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from stack.bench.detector import fixed_pass, make_stream, many_rules, ours_pass, run_detector, streaming_rules
from visibility.rules import load_rules
from visibility.tools.reference import OFFER_TYPE, PLACEMENT_TYPE, SNAPSHOT_TYPE

RULES = load_rules()
BIN = Path(sys.executable).parent


def test_the_stream_is_realistic_and_free_of_redeliveries():
    """Offers of three teams, snapshots and placements, some offers arriving after later ones; each event once."""
    stream = make_stream(RULES, events=4000)
    offers = [event for event in stream if event.event_type == OFFER_TYPE]
    assert 3500 < len(stream) < 4500
    assert {event.event_type for event in stream} == {OFFER_TYPE, SNAPSHOT_TYPE, PLACEMENT_TYPE}
    assert {event.payload["team"] for event in offers} == {"magic-apron", "recs-search", "sponsored"}
    assert len({event.event_id for event in stream}) == len(stream)
    assert any(
        later.payload["surfaced_at"] < earlier.payload["surfaced_at"] for earlier, later in itertools.pairwise(offers)
    )


def test_the_rule_engine_finds_exactly_what_the_fixed_rules_find():
    """On the same offers and snapshots, the default rules in the rule language and the fixed code agree."""
    two = streaming_rules(RULES)
    stream = [event for event in make_stream(RULES, events=6000) if event.event_type != PLACEMENT_TYPE]
    found = ours_pass(two, stream)
    assert found > 0
    assert fixed_pass(two, stream) == found
    assert ours_pass(two, stream) == found  # a fresh engine per pass: same work each time


def test_a_file_of_twenty_rules_is_valid_and_finds_more():
    """The 20-rule file is a valid rules file in every shape of the default one."""
    twenty = many_rules(RULES)
    assert len(twenty.rules) == 20
    assert {rule.compare.form for rule in twenty.rules} == {
        "relative_difference_above", "contradiction", "different", "exclusive"
    }  # fmt: skip
    stream = make_stream(RULES, events=3000)
    assert ours_pass(twenty, stream) > ours_pass(RULES, stream)


def test_run_reports_ours_the_fixed_rules_and_the_ratio():
    """The figures hold ours, the named baseline, their ratio, the 20-rule rate and per-event latencies."""
    figures = run_detector(seconds=0.05, console=Console(file=io.StringIO()), events=3000)
    assert figures["bench"] == "detector"
    assert figures["unit"] == "events/s"
    assert figures["ours"] > 0
    assert figures["baseline"]["value"] > 0
    assert "fixed-code" in figures["baseline"]["name"]
    assert figures["ratio"] == pytest.approx(figures["ours"] / figures["baseline"]["value"], rel=0.01)
    assert figures["twenty_rules"]["rules"] == 20
    assert figures["twenty_rules"]["events_per_second"] > 0
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert figures["findings_per_pass"] == figures["fixed_findings_per_pass"] > 0


def test_bench_detector_ends_with_a_json_line():
    """`33god bench detector` runs from the command line and ends with one JSON object."""
    result = subprocess.run(
        [str(BIN / "33god"), "bench", "detector", "--seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "detector"
    assert figures["events"] > 50_000
