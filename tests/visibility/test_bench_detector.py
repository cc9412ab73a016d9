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

from stack.bench.detector import baseline_pass, make_stream, ours_pass, run_detector
from visibility.domain.detection import Offer, Snapshot
from visibility.rules import load_rules

RULES = load_rules()
BIN = Path(sys.executable).parent


def test_the_stream_is_realistic_and_free_of_redeliveries():
    """Offers of three teams, snapshots, some offers arriving after later ones; each event once."""
    stream = make_stream(RULES, events=4000)
    offers = [item for item in stream if isinstance(item, Offer)]
    snapshots = [item for item in stream if isinstance(item, Snapshot)]
    assert 3500 < len(stream) < 4500
    assert snapshots
    assert {offer.team for offer in offers} == {"magic-apron", "recs-search", "sponsored"}
    assert len({item.event_id for item in stream}) == len(stream)
    assert any(later.at < earlier.at for earlier, later in itertools.pairwise(offers))


def test_both_sides_find_conflicts_in_the_stream():
    """The engine and the keyed check both compare prices and find the planted mismatches."""
    stream = make_stream(RULES, events=4000)
    assert ours_pass(RULES, stream) > 0
    assert baseline_pass(stream) > 0
    assert ours_pass(RULES, stream) == ours_pass(RULES, stream)  # a fresh engine per pass: same work each time


def test_run_reports_ours_the_baseline_and_the_ratio():
    """The figures hold ours, the named baseline, their ratio and per-event latencies."""
    figures = run_detector(seconds=0.05, console=Console(file=io.StringIO()), events=3000)
    assert figures["bench"] == "detector"
    assert figures["unit"] == "events/s"
    assert figures["ours"] > 0
    assert figures["baseline"]["value"] > 0
    assert "keyed check" in figures["baseline"]["name"]
    assert figures["ratio"] == pytest.approx(figures["ours"] / figures["baseline"]["value"], rel=0.01)
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert figures["findings_per_pass"] > 0


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
