"""Scoring detections against the labels of a simulated stream: recall, precision, false positives, time to detect.

Detections are the conflicts of ``GET /conflicts`` detected during the run (from the
header's ``started_at`` until ``finished_at`` plus :data:`GRACE`). A detection matches a
label when rule, product, store and teams agree and it was detected after the label
became true (on the wall clock) and before the next label of the same key. A label with
no detection in that window is still counted as found when a conflict of its key was
already open before it ("absorbed": the open conflict counts the new occurrence rather
than opening another), but it has no time to detect.

* recall: labels found / labels;
* precision: detections matching a label / detections;
* false-positive rate: detections matching no label / detections (the proposal's
  measure: of the alerts raised, the share that were false);
* time to detect: ``detected_at`` minus the moment the label became true, per label.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from visibility.tools.http_json import ApiRefused, get_text, pages
from visibility.tools.labels import ConflictKey, Label, LabelsHeader, format_time

__all__ = [
    "CLOSED_STATUSES",
    "GRACE",
    "Detection",
    "Evaluation",
    "RuleScore",
    "evaluate",
    "events_evaluated",
    "fetch_detections",
    "percentile",
    "wait_until_settled",
]

GRACE = timedelta(minutes=5)
"""How long after the stream ended a detection still counts as the run's (the detector may lag)."""

CLOSED_STATUSES = frozenset({"resolved", "fixed", "accepted", "disputed", "closed"})
"""Statuses of a conflict that no longer absorbs new occurrences."""

PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Detection:
    """One conflict as the visibility API reports it."""

    conflict_id: str
    rule: str
    status: str
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    detected_at: datetime

    @property
    def key(self) -> ConflictKey:
        return (self.rule, self.product_id, self.store_id, self.teams)

    @property
    def open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Detection:
        """From an item of ``GET /conflicts``; raises ValueError naming the first bad field."""
        try:
            detected_at = datetime.fromisoformat(str(item["detected_at"]))
            teams = item["teams"]
            if not isinstance(teams, list) or not all(isinstance(team, str) for team in teams):
                raise ValueError("teams: expected a list of team slugs")
            if detected_at.tzinfo is None:
                raise ValueError("detected_at: needs a UTC offset")
            return cls(
                conflict_id=str(item["conflict_id"]),
                rule=str(item["rule"]),
                status=str(item.get("status", "open")),
                product_id=str(item["product_id"]),
                store_id=str(item["store_id"]),
                teams=tuple(sorted(teams)),
                detected_at=detected_at,
            )
        except KeyError as exc:
            raise ValueError(f"{exc.args[0]}: missing") from exc


def fetch_detections(api: str, *, timeout: float = 10.0) -> list[Detection]:
    """Every conflict of the visibility API at ``api``, paging through ``next_cursor``.

    Raises :class:`~visibility.tools.http_json.ApiProblem` when the API does not answer or answers
    something that is not a page of conflicts.
    """
    found = []
    for page in pages(api, "/conflicts", {"limit": PAGE_SIZE}, timeout=timeout):
        for item in page:
            try:
                found.append(Detection.from_item(item))
            except ValueError as exc:
                raise ApiRefused(f"{api.rstrip('/')}/conflicts", f"a conflict is malformed: {exc}") from exc
    return found


def events_evaluated(api: str, *, timeout: float = 10.0) -> float:
    """How many retail events the detector behind ``api`` has evaluated (``visibility_events_total``, all types)."""
    text = get_text(api, "/metrics", timeout=timeout)
    try:
        families = {family.name: family for family in text_string_to_metric_families(text)}
    except ValueError as exc:
        raise ApiRefused(f"{api.rstrip('/')}/metrics", f"not Prometheus metrics: {exc}") from exc
    if "visibility_events" not in families:
        raise ApiRefused(f"{api.rstrip('/')}/metrics", "no visibility_events_total: is this the visibility API?")
    return sum(s.value for s in families["visibility_events"].samples if s.name == "visibility_events_total")


def wait_until_settled(
    api: str,
    *,
    quiet: float,
    timeout: float,
    request_timeout: float = 10.0,
    on_count: Callable[[float], None] | None = None,
    poll: float = 0.25,
) -> bool:
    """Wait until the detector has evaluated no new event for ``quiet`` seconds; False if ``timeout`` came first.

    Right after a stream is published, the detector may still be working through it:
    scoring then would count its last conflicts as missed. ``on_count`` hears each count read.
    """
    deadline = time.monotonic() + timeout
    count = events_evaluated(api, timeout=request_timeout)
    changed = time.monotonic()
    while True:
        if on_count is not None:
            on_count(count)
        now = time.monotonic()
        if now - changed >= quiet:
            return True
        if now >= deadline:
            return False
        time.sleep(min(poll, quiet))
        latest = events_evaluated(api, timeout=request_timeout)
        if latest != count:
            count, changed = latest, time.monotonic()


@dataclass(slots=True)
class RuleScore:
    """The counts of one rule."""

    labels: int = 0
    found: int = 0
    detections: int = 0
    false_positives: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "found": self.found,
            "detections": self.detections,
            "false_positives": self.false_positives,
            "recall": _ratio(self.found, self.labels),
            "precision": _ratio(self.detections - self.false_positives, self.detections),
        }


@dataclass(slots=True)
class Evaluation:
    """The score of one run."""

    labels: int = 0
    detected: int = 0
    absorbed: int = 0
    detections: int = 0
    false_positives: int = 0
    ignored: int = 0
    time_to_detect: list[float] = field(default_factory=list)
    per_rule: dict[str, RuleScore] = field(default_factory=lambda: defaultdict(RuleScore))
    missed: list[Label] = field(default_factory=list)
    false: list[Detection] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return _ratio(self.detected + self.absorbed, self.labels)

    @property
    def precision(self) -> float | None:
        return _ratio(self.detections - self.false_positives, self.detections)

    @property
    def false_positive_rate(self) -> float | None:
        return _ratio(self.false_positives, self.detections)

    def ttd(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of the time to detect, in seconds."""
        return percentile(self.time_to_detect, q)

    def to_json(self) -> dict[str, Any]:
        ttd = self.time_to_detect
        return {
            "labels": self.labels,
            "detections": self.detections,
            "found": self.detected + self.absorbed,
            "absorbed": self.absorbed,
            "missed": len(self.missed),
            "false_positives": self.false_positives,
            "ignored_outside_run": self.ignored,
            "recall": self.recall,
            "precision": self.precision,
            "false_positive_rate": self.false_positive_rate,
            "time_to_detect_seconds": {
                "count": len(ttd),
                "mean": sum(ttd) / len(ttd) if ttd else None,
                "p50": self.ttd(50),
                "p95": self.ttd(95),
                "p99": self.ttd(99),
                "max": max(ttd) if ttd else None,
            },
            "per_rule": {rule: score.to_json() for rule, score in sorted(self.per_rule.items())},
            "missed_labels": [label.to_json() for label in self.missed[:20]],
            "false_detections": [
                {"conflict_id": d.conflict_id, "rule": d.rule, "product_id": d.product_id, "store_id": d.store_id,
                 "teams": list(d.teams), "detected_at": format_time(d.detected_at)}
                for d in self.false[:20]
            ],
        }  # fmt: skip


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def evaluate(header: LabelsHeader, labels: Iterable[Label], detections: Iterable[Detection]) -> Evaluation:
    """Match the run's detections to its labels (see the module docstring) and score them."""
    result = Evaluation()
    finished = header.extra.get("finished_at")
    end = datetime.fromisoformat(finished) + GRACE if isinstance(finished, str) else None
    by_key: dict[ConflictKey, list[Label]] = defaultdict(list)
    for label in labels:
        by_key[label.key].append(label)
        result.labels += 1
        result.per_rule[label.rule].labels += 1
    in_run: dict[ConflictKey, list[Detection]] = defaultdict(list)
    before: dict[ConflictKey, list[Detection]] = defaultdict(list)
    for detection in detections:
        if detection.detected_at < header.started_at:
            before[detection.key].append(detection)
        elif end is not None and detection.detected_at > end:
            result.ignored += 1
        else:
            in_run[detection.key].append(detection)
            result.detections += 1
            result.per_rule[detection.rule].detections += 1
    for key in by_key.keys() | in_run.keys():
        _match_key(header, by_key.get(key, []), in_run.get(key, []), before.get(key, []), result)
    result.missed.sort(key=lambda label: (label.became_true_at, label.key))
    result.false.sort(key=lambda detection: detection.detected_at)
    return result


def _match_key(
    header: LabelsHeader,
    labels: list[Label],
    detections: list[Detection],
    earlier: list[Detection],
    result: Evaluation,
) -> None:
    """Score the labels and detections of one key."""
    labels = sorted(labels, key=lambda label: label.became_true_at)
    starts = [header.wall_clock(label.became_true_at) for label in labels]
    detections = sorted(detections, key=lambda detection: detection.detected_at)
    matched: set[int] = set()
    for detection in detections:
        # The label whose window [start, next start) holds the detection, if any.
        index = bisect_right(starts, detection.detected_at) - 1
        if index < 0:
            result.false_positives += 1
            result.per_rule[detection.rule].false_positives += 1
            result.false.append(detection)
            continue
        if index not in matched:
            matched.add(index)
            result.time_to_detect.append((detection.detected_at - starts[index]).total_seconds())
    for index, label in enumerate(labels):
        if index in matched:
            result.detected += 1
            result.per_rule[label.rule].found += 1
        elif _absorbed(starts[index], detections, earlier):
            result.absorbed += 1
            result.per_rule[label.rule].found += 1
        else:
            result.missed.append(label)


def _absorbed(start: datetime, detections: list[Detection], earlier: list[Detection]) -> bool:
    """A conflict of the key, detected before the label became true, is still open."""
    return any(detection.open and detection.detected_at < start for detection in (*earlier, *detections))
