"""The Prometheus rules in ``deploy/prometheus`` load, pass their promtool unit tests (``*_test.yml``), and stay
tied to what they stand on: the metrics the services export, the runbooks each alert links, and a test per alert."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import unavailable
from tests.deploy.exported import EXPORTED as PLATFORM_SERIES

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus"
RULE_FILES = ("rules.yml", "alerts.yml")
TEST_FILES = sorted(RULES.glob("*_test.yml"))
RUNBOOK_URL_PREFIX = "https://github.com/33god/platform/blob/main/"
SEVERITIES = {"critical", "warning"}  # Alertmanager routes these: PagerDuty and Slack (report 8.4.2)
COMPONENT_JOBS = {"bloodbank": 8682, "candystore": 8683, "candybar": 8684, "visibility": 8685}

# A rule on any name the platform does not export never matches.
EXPORTED = PLATFORM_SERIES
PROMETHEUS_OWN = frozenset({"up"})

_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# Not after a digit, dot or word character, so that 1e-9 and 5m yield no name.
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)\s*(\()?")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules_of(file_name: str) -> list[dict[str, Any]]:
    return [rule for group in load(RULES / file_name)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules_of("alerts.yml") if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules_of("rules.yml") if "record" in rule}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: neither functions, keywords, label names nor durations."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = _LABEL_LIST.sub("", text)
    return {match[1] for match in _IDENTIFIER.finditer(text) if match[2] is None and match[1].lower() not in _KEYWORDS}


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings: lowercase, punctuation dropped, spaces to '-', repeats numbered."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        heading = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
        if in_code or heading is None:
            continue
        anchor = re.sub(r"[^\w\- ]", "", heading[1].strip().lower()).replace(" ", "-")
        anchors.add(f"{anchor}-{seen[anchor]}" if seen[anchor] else anchor)
        seen[anchor] += 1
    return anchors


def alert_rule_tests() -> list[dict[str, Any]]:
    return [
        case
        for path in TEST_FILES
        for group in load(path).get("tests", [])
        for case in group.get("alert_rule_test", [])
    ]


# --- promtool ------------------------------------------------------------------------------------


@pytest.fixture
def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        unavailable("promtool is not installed (Debian's prometheus package): the alert rules cannot be checked")
    return tool


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("file_name", RULE_FILES)
def test_rule_files_are_valid(promtool: str, file_name: str) -> None:
    """`promtool check rules` accepts every recording and alerting rule."""
    checked = run(promtool, "check", "rules", file_name)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_config_is_valid(promtool: str) -> None:
    """`promtool check config` accepts prometheus.yml and the rule files it loads."""
    checked = run(promtool, "check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_rules_pass_their_unit_tests(promtool: str, test_file: Path) -> None:
    """Each alert fires on its condition, with its labels and annotations, and stays quiet without it."""
    tested = run(promtool, "test", "rules", test_file.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- what the rules stand on ---------------------------------------------------------------------


def test_prometheus_loads_the_rules_scrapes_every_component_and_alerts_through_alertmanager() -> None:
    config = load(RULES / "prometheus.yml")
    assert config["rule_files"] == list(RULE_FILES)
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {job: [f"127.0.0.1:{port}"] for job, port in COMPONENT_JOBS.items()}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]


def test_every_alert_has_a_severity_and_the_annotations_an_on_call_needs() -> None:
    for alert in alerts():
        assert alert.get("labels", {}).get("severity") in SEVERITIES, alert["alert"]
        annotations = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert str(annotations.get(key, "")).strip(), f"{alert['alert']} has no {key}"


def test_every_runbook_url_leads_to_a_heading_of_a_runbook() -> None:
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK_URL_PREFIX), url
        path, _, anchor = url.removeprefix(RUNBOOK_URL_PREFIX).partition("#")
        runbook = ROOT / path
        assert runbook.is_file(), f"{alert['alert']}: {path} does not exist"
        assert anchor in heading_anchors(runbook.read_text(encoding="utf-8")), f"{alert['alert']}: no #{anchor}"


def test_alerts_sharing_a_name_differ_in_their_labels() -> None:
    """A warning and a critical rule on one symptom share a name (Alertmanager's inhibition pairs them by it);
    with the same labels they would be one alert."""
    label_sets = Counter((alert["alert"], tuple(sorted(alert["labels"].items()))) for alert in alerts())
    assert [key for key, count in label_sets.items() if count > 1] == []


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = alert_rule_tests()
    fired = [
        (case["alertname"], expected.get("exp_labels", {}))
        for case in cases
        for expected in case.get("exp_alerts") or []
    ]
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    for alert in alerts():
        name, labels = alert["alert"], alert["labels"]
        assert any(tested == name and labels.items() <= expected.items() for tested, expected in fired), (
            f"{name} {labels} is never tested firing"
        )
        assert name in quiet, f"{name} is never tested staying quiet"


def test_rules_use_only_exported_metrics_and_recorded_series() -> None:
    known = EXPORTED | PROMETHEUS_OWN | recorded_names()
    for file_name in RULE_FILES:
        for rule in rules_of(file_name):
            unknown = metric_names(rule["expr"]) - known
            assert not unknown, f"{rule.get('alert') or rule.get('record')} reads {sorted(unknown)}"


def test_unit_tests_feed_only_exported_metrics() -> None:
    """Input series of a name no service exports would test a rule against data that never comes."""
    for path in TEST_FILES:
        for group in load(path)["tests"]:
            for series in group.get("input_series", []):
                name = series["series"].split("{", 1)[0]
                assert name in EXPORTED | PROMETHEUS_OWN, f"{path.name}: {name}"


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_unit_tests_evaluate_recording_rules_before_alerts(test_file: Path) -> None:
    """promtool evaluates groups in a random order unless told: an alert would read the previous evaluation."""
    document = load(test_file)
    groups = [group["name"] for file_name in document["rule_files"] for group in load(RULES / file_name)["groups"]]
    assert document["rule_files"] == [name for name in RULE_FILES if name in document["rule_files"]]
    assert document.get("group_eval_order") == groups


def test_metric_names_are_read_from_expressions() -> None:
    expr = """
        (sum by (job, le) (rate(a_total{outcome=~"failed|ok", le="0.5"}[5m] offset 1h)) or vector(0))
        / on (job) group_left (x) (b:c:rate5m > bool 1e-9) and d unless histogram_quantile(0.9, e_bucket[1m:])
    """
    assert metric_names(expr) == {"a_total", "b:c:rate5m", "d", "e_bucket"}


def test_heading_anchors_follow_github() -> None:
    markdown = "# Run book\n## Consumer lag (`ConsumerLagHigh`)\n```\n# not a heading\n```\n## Run book\n"
    assert heading_anchors(markdown) == {"run-book", "consumer-lag-consumerlaghigh", "run-book-1"}
