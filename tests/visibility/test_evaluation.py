"""Scoring detections against labels: matching, recall, precision, false positives and time to detect.

The detections are served by a real HTTP server on a local port, paging with a cursor
the way ``GET /conflicts`` does; the labels file is the simulator's format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, generate_latest
from starlette.types import ASGIApp
from typer.testing import CliRunner

from tests.visibility.threaded_server import serving
from visibility.cli import app
from visibility.metrics import VisibilityMetrics
from visibility.tools.evaluation import (
    Detection,
    evaluate,
    events_evaluated,
    fetch_detections,
    percentile,
    wait_until_settled,
)
from visibility.tools.http_json import ApiRefused, ApiUnreachable
from visibility.tools.labels import Label, LabelsError, LabelsHeader, format_time, read_labels, write_labels

START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SCALE = 10.0  # stream time runs ten times faster: stream second 10 is wall-clock second 1
PAGE = 2


def label(rule: str, product: str, store: str, teams: tuple[str, ...], stream_seconds: float) -> Label:
    return Label(rule, product, store, teams, START + timedelta(seconds=stream_seconds), ("e1", "e2"))


def conflict(  # noqa: PLR0917 - a row of the table below
    conflict_id: str, rule: str, product: str, store: str, teams: list[str], wall_seconds: float, status: str = "open"
) -> dict[str, Any]:
    detected = START + timedelta(seconds=wall_seconds)
    return {
        "conflict_id": conflict_id,
        "rule": rule,
        "status": status,
        "product_id": product,
        "store_id": store,
        "teams": teams,
        "source_event_ids": ["e1", "e2"],
        "occurred_at": format_time(detected - timedelta(milliseconds=5)),
        "detected_at": format_time(detected),
        "details": {"summary": "…", "observations": []},
        "severity": "medium",
        "occurrence_count": 1,
        "customer_facing": True,
    }


HEADER = LabelsHeader(
    seed=7,
    rate=100.0,
    duration=60.0,
    conflict_rate=0.02,
    started_at=START,
    time_scale=SCALE,
    extra={"finished_at": format_time(START + timedelta(seconds=60))},
)
PRICE, STOCK = "price_mismatch", "inventory_contradiction"
LABELS = [
    label(PRICE, "p1", "s1", ("magic-apron", "sponsored"), 10),  # wall +1 s, detected after 0.25 s
    label(STOCK, "p2", "s1", ("recs-search",), 20),  # wall +2 s, detected after 0.5 s
    label(PRICE, "p3", "s2", ("sponsored",), 30),  # wall +3 s: only a conflict closed before the run
    label(PRICE, "p1", "s1", ("magic-apron", "sponsored"), 100),  # again, absorbed by the open conflict
    label(PRICE, "p4", "s2", ("magic-apron",), 200),  # wall +20 s, detected after 1 s
    label(STOCK, "p5", "s3", ("sponsored",), 300),  # absorbed by a conflict open since before the run
]
CONFLICTS = [
    conflict("c-old", PRICE, "p3", "s2", ["sponsored"], -100, status="resolved"),
    conflict("c-open", STOCK, "p5", "s3", ["sponsored"], -50),
    conflict("c-a", PRICE, "p1", "s1", ["sponsored", "magic-apron"], 1.25),
    conflict("c-b", STOCK, "p2", "s1", ["recs-search"], 2.5, status="acknowledged"),
    conflict("c-e", PRICE, "p9", "s1", ["recs-search", "sponsored"], 5),  # nothing was true there
    conflict("c-d-early", PRICE, "p4", "s2", ["magic-apron"], 15, status="resolved"),  # before it was true
    conflict("c-d", PRICE, "p4", "s2", ["magic-apron"], 21),
    conflict("c-later", PRICE, "p1", "s9", ["sponsored"], 60 + 301),  # long after the run
]


def conflicts_api(conflicts: list[dict[str, Any]], requests: list[dict[str, Any]], *, busy: float = 0) -> FastAPI:
    """A stand-in for the visibility API: ``GET /conflicts``, at most PAGE items a page, cursor = offset.

    Its ``GET /metrics`` are the detector's own; each of the first ``busy`` reads finds one more
    event evaluated, as while the detector works through a stream.
    """
    app = FastAPI()
    metrics = VisibilityMetrics(CollectorRegistry())
    metrics.events.labels("retail.offer.surfaced.v1").inc(100)
    reads = 0

    @app.get("/metrics")
    def serve_metrics() -> PlainTextResponse:
        nonlocal reads
        reads += 1
        if reads <= busy:
            metrics.events.labels("retail.inventory.snapshot.v1").inc()
        return PlainTextResponse(generate_latest(metrics.registry).decode())

    @app.get("/conflicts")
    def list_conflicts(limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: str | None = None) -> dict[str, Any]:
        requests.append({"limit": limit, "cursor": cursor})
        start = int(cursor or 0)
        end = start + min(limit, PAGE)
        return {"items": conflicts[start:end], "next_cursor": str(end) if end < len(conflicts) else None}

    return app


@pytest.fixture
def api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []

    async def build() -> ASGIApp:
        return conflicts_api(CONFLICTS, requests)

    with serving(build) as url:
        yield url, requests


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.jsonl"
    write_labels(path, HEADER, LABELS)
    return path


def test_detections_are_read_page_by_page(api):
    """Every conflict is read, following next_cursor until the last page."""
    url, requests = api
    found = fetch_detections(url)
    assert [detection.conflict_id for detection in found] == [item["conflict_id"] for item in CONFLICTS]
    assert len(requests) == 4
    assert [request["cursor"] for request in requests] == [None, "2", "4", "6"]
    assert found[2].teams == ("magic-apron", "sponsored")  # sorted, as labels are


def test_scores_hand_made_labels_and_detections(api, labels_file):
    """Recall, precision, false-positive rate and time to detect follow the matching rules exactly."""
    url, _ = api
    header, labels = read_labels(labels_file)
    result = evaluate(header, labels, fetch_detections(url))
    assert (result.labels, result.detections, result.ignored) == (6, 5, 1)
    assert (result.detected, result.absorbed, result.false_positives) == (3, 2, 2)
    assert result.recall == pytest.approx(5 / 6)
    assert result.precision == pytest.approx(3 / 5)
    assert result.false_positive_rate == pytest.approx(2 / 5)
    assert sorted(result.time_to_detect) == pytest.approx([0.25, 0.5, 1.0])
    assert result.ttd(50) == pytest.approx(0.5)
    assert result.ttd(95) == pytest.approx(0.95)
    assert result.ttd(99) == pytest.approx(0.99)
    assert [item.product_id for item in result.missed] == ["p3"]
    assert sorted(item.conflict_id for item in result.false) == ["c-d-early", "c-e"]
    document = result.to_json()
    assert document["per_rule"][PRICE] == {
        "labels": 4,
        "found": 3,
        "detections": 4,
        "false_positives": 2,
        "recall": 0.75,
        "precision": 0.5,
    }
    assert document["time_to_detect_seconds"]["count"] == 3


def test_a_detection_at_the_moment_a_label_became_true_matches_it():
    """A detection matches from the moment the label became true, up to the next label of its key."""
    labels = [label(PRICE, "p1", "s1", ("sponsored",), 10), label(PRICE, "p1", "s1", ("sponsored",), 50)]
    detections = [
        Detection("c1", PRICE, "resolved", "p1", "s1", ("sponsored",), START + timedelta(seconds=1)),
        Detection("c2", PRICE, "open", "p1", "s1", ("sponsored",), START + timedelta(seconds=5.5)),
    ]
    result = evaluate(HEADER, labels, detections)
    assert (result.detected, result.absorbed, result.false_positives) == (2, 0, 0)
    assert result.time_to_detect == pytest.approx([0.0, 0.5])


def test_a_second_detection_within_one_label_is_no_false_positive_and_is_timed_once():
    """Two conflicts opened within one label's window both match it; the first one times it."""
    labels = [label(PRICE, "p1", "s1", ("sponsored",), 10)]
    detections = [
        Detection("c1", PRICE, "resolved", "p1", "s1", ("sponsored",), START + timedelta(seconds=2)),
        Detection("c2", PRICE, "open", "p1", "s1", ("sponsored",), START + timedelta(seconds=3)),
    ]
    result = evaluate(HEADER, labels, detections)
    assert (result.detected, result.detections, result.false_positives) == (1, 2, 0)
    assert result.time_to_detect == pytest.approx([1.0])


def test_nothing_to_score_gives_no_ratios():
    """Without labels or detections the ratios and percentiles are absent, not zero."""
    result = evaluate(HEADER, [], [])
    assert (result.recall, result.precision, result.false_positive_rate, result.ttd(95)) == (None, None, None, None)


def test_percentile_interpolates_between_ranks():
    """Percentiles interpolate linearly between the closest ranks."""
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0], 100) == 2.0
    assert percentile([], 50) is None


def test_the_labels_file_round_trips(labels_file):
    """What write_labels writes, read_labels reads back, header figures included."""
    header, labels = read_labels(labels_file)
    assert header == HEADER
    assert labels == sorted(LABELS, key=lambda item: (item.became_true_at, item.key))
    first = json.loads(labels_file.read_text().splitlines()[0])
    assert first["kind"] == "header"
    assert {"seed", "rate", "duration", "conflict_rate", "started_at", "time_scale"} <= set(first)


HEAD = '{"kind": "header", "seed": 1, "rate": 1, "duration": 1, "conflict_rate": 0, "started_at": "2026-11-30T10:00:00'
BAD_TIME = (
    '{"rule": "r", "product_id": "p", "store_id": "s", "teams": ["t"], "became_true_at": "soon", "event_ids": []}'
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty: expected a header line, then one conflict per line"),
        (HEAD.replace("header", "label") + 'Z"}', ':1: $.kind: expected "header" on the first line'),
        ('{"kind": "header", "seed": "x"}', ":1: $.seed: Expected `int`, got `str`"),
        (HEAD + '"}', ":1: $.started_at: needs a UTC offset"),
        (HEAD + 'Z"}\n' + BAD_TIME, ":2: $.became_true_at: Invalid RFC3339 encoded datetime"),
        (HEAD + 'Z"}\nnot json', ":2: not a JSON object"),
    ],
)
def test_an_unreadable_labels_file_says_where_and_what(tmp_path, content, message):
    """A bad labels file is refused with its line and the field's path."""
    path = tmp_path / "labels.jsonl"
    path.write_text(content)
    with pytest.raises(LabelsError) as raised:
        read_labels(path)
    assert message in str(raised.value)


def test_an_api_that_is_not_there_or_not_the_visibility_api_is_reported():
    """No server, or a server answering something other than pages of conflicts, is an ApiProblem."""
    with serving(_closed_port_app) as url:
        pass  # the server is gone again: nothing listens on that port now
    with pytest.raises(ApiUnreachable, match="is the service running"):
        fetch_detections(url, timeout=2)

    async def build() -> ASGIApp:
        app = FastAPI()
        app.get("/conflicts")(lambda: {"items": [{"conflict_id": "c1"}], "next_cursor": None})
        return app

    with serving(build) as url:
        with pytest.raises(ApiRefused, match="a conflict is malformed: detected_at: missing"):
            fetch_detections(url)
        with pytest.raises(ApiRefused, match="answered 404"):
            fetch_detections(url + "/nowhere")


async def _closed_port_app() -> ASGIApp:
    return FastAPI()


# --- waiting for the detector ------------------------------------------------------------------


def test_waits_until_the_detector_takes_no_new_event():
    """The wait lasts while the count of evaluated events rises, and ends once it stayed put for ``quiet``."""

    async def build() -> ASGIApp:
        return conflicts_api([], [], busy=5)

    seen: list[float] = []
    with serving(build) as url:
        assert wait_until_settled(url, quiet=0.3, timeout=30, poll=0.02, on_count=seen.append)
        assert events_evaluated(url) == 105
    assert seen[0] == 101
    assert sorted(set(seen)) == [101, 102, 103, 104, 105]  # every rise restarted the quiet period
    assert seen.count(105) >= 2


def test_gives_up_waiting_for_a_detector_that_keeps_taking_events():
    """A detector fed without end never settles: the wait ends after ``timeout`` and says so."""

    async def build() -> ASGIApp:
        return conflicts_api([], [], busy=math.inf)

    with serving(build) as url:
        assert not wait_until_settled(url, quiet=0.5, timeout=0.3, poll=0.02)


def test_an_api_without_the_detectors_metrics_is_refused():
    """Waiting needs the detector's visibility_events_total; another service's metrics are refused."""

    async def build() -> ASGIApp:
        app = FastAPI()
        other = "# HELP other_total x\n# TYPE other_total counter\nother_total 1\n"
        app.get("/metrics")(lambda: PlainTextResponse(other))
        return app

    with serving(build) as url, pytest.raises(ApiRefused, match="no visibility_events_total"):
        events_evaluated(url)


# --- the command ------------------------------------------------------------------------------


def test_evaluate_prints_a_table_and_json(api, labels_file):
    """`visibility evaluate` prints the scores as a table, or as one JSON object with --json."""
    url, _ = api
    runner = CliRunner()
    table = runner.invoke(app, ["evaluate", "--labels", str(labels_file), "--api", url, "--settle", "0.1"])
    assert table.exit_code == 0, table.output
    for text in ("recall", "83.33 %", "precision", "60.00 %", "false-positive rate", "40.00 %", "500 ms", "950 ms"):
        assert text in table.output
    assert "missed: price_mismatch p3 at s2 sponsored" in table.output
    as_json = runner.invoke(app, ["evaluate", "--labels", str(labels_file), "--api", url, "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output.strip().splitlines()[-1])
    assert document["recall"] == pytest.approx(5 / 6)
    assert document["false_positive_rate"] == pytest.approx(0.4)
    assert document["time_to_detect_seconds"]["p95"] == pytest.approx(0.95)


def test_evaluate_exits_1_on_unreadable_inputs(api, tmp_path, labels_file):
    """A missing labels file or an API that does not answer ends with exit code 1 and the reason."""
    url, _ = api
    runner = CliRunner()
    missing = runner.invoke(app, ["evaluate", "--labels", str(tmp_path / "nope.jsonl"), "--api", url])
    assert missing.exit_code == 1
    assert "cannot read the labels file" in missing.output
    nowhere = runner.invoke(app, ["evaluate", "--labels", str(labels_file), "--api", "http://127.0.0.1:9"])
    assert nowhere.exit_code == 1
    assert "cannot read the detector's progress" in nowhere.output
    unsettled = ["evaluate", "--labels", str(labels_file), "--api", "http://127.0.0.1:9", "--settle", "0"]
    no_detections = runner.invoke(app, unsettled)
    assert no_detections.exit_code == 1
    assert "cannot read the detections" in no_detections.output
