"""The dashboards and alert routing in ``deploy`` are well formed and query only what 33GOD exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import unavailable
from tests.deploy.exported import EXPORTED as PLATFORM_SERIES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
PROVISIONING = DEPLOY / "grafana" / "provisioning"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))

# What the platform exports, and `up`, which Prometheus records itself for each scrape target.
EXPORTED = PLATFORM_SERIES | {"up"}

PANEL_TYPES = {"timeseries", "stat", "table", "gauge"}
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

# --- PromQL: which identifiers are metric names -------------------------------------------------

_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")
# Strings are gone before these run, so a `}` or `)` inside a label value cannot end them early.
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"(?<![\w:])(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# A number swallows its exponent or duration unit (`1e-9`, `5m`), so neither reads as a name.
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|(?P<name>[a-zA-Z_:][\w:]*)(?P<call>\s*\()?")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "atan2",
    "inf",
    "nan",
}
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+),\s*\w+\s*\)\s*$", re.DOTALL)

# Grafana's own variables are replaced by a range, the dashboard's by a regex matching anything,
# so that the expression is plain PromQL.
_INTERVAL_VARIABLE = re.compile(
    r"\$(?:__rate_interval|__interval|__range)\b|\$\{(?:__rate_interval|__interval|__range)\}"
)
# A name starts with a letter or `_`, so a regex back-reference such as "$1" is not a variable.
_TEMPLATE_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?::\w+)?\}|(?P<plain>[A-Za-z_]\w*))")


def metric_names(promql: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions, keywords or label names."""
    bare = _STRING.sub('""', promql)
    bare = _MATCHERS.sub(" ", bare)
    bare = _RANGE.sub(" ", bare)
    bare = _LABEL_LIST.sub(" ", bare)
    names = set()
    for token in _TOKEN.finditer(bare):
        name = token.group("name")
        if name is None or token.group("call") or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def as_promql(expr: str) -> str:
    """A panel expression with Grafana's variables replaced, as Prometheus would receive it."""
    return _TEMPLATE_VARIABLE.sub(".*", _INTERVAL_VARIABLE.sub("5m", expr))


def variables_used(expr: str) -> set[str]:
    return {
        match.group("braced") or match.group("plain")
        for match in _TEMPLATE_VARIABLE.finditer(expr)
        if not (match.group("braced") or match.group("plain")).startswith("__")
    }


# --- dashboards ---------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return board


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def expressions(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expression) for each panel target and each query variable."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} target {target.get('refId')}", target.get("expr", "")
    for variable in board["templating"]["list"]:
        if variable.get("type") == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            selector = _LABEL_VALUES.match(text)
            assert selector, f"variable {variable['name']}: only label_values(<selector>, <label>) is expected"
            yield f"variable ${variable['name']}", selector.group("selector")


@pytest.fixture(params=DASHBOARD_FILES, ids=lambda path: path.name)
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_the_four_dashboards_are_there() -> None:
    assert {path.name for path in DASHBOARD_FILES} == {
        "pipeline-overview.json",
        "dead-letters.json",
        "consumers.json",
        "conflicts-okrs.json",
    }


def test_dashboard_uids_are_unique() -> None:
    uids = [load(path)["uid"] for path in DASHBOARD_FILES]
    assert len(set(uids)) == len(uids), uids


def test_dashboard_is_provisionable(board: dict[str, Any]) -> None:
    """A fixed uid (links and alerts point at it), a title, the shared tag, the schema and defaults asked for."""
    assert isinstance(board["uid"], str)
    assert re.fullmatch(r"[\w-]{1,40}", board["uid"]), "Grafana uids are at most 40 characters"
    assert board["title"].strip()
    assert board["tags"] == ["33god"]
    assert board["schemaVersion"] == 39
    assert board["time"] == {"from": "now-1h", "to": "now"}
    assert board["refresh"] == "30s"
    assert board.get("id") is None, "a fixed database id would clash between Grafana instances"


def test_every_panel_is_described_and_queries_prometheus(board: dict[str, Any]) -> None:
    ids = []
    for panel in panels(board):
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel.get('id')} has no title"
        assert panel.get("description", "").strip(), f"{title}: no description"
        assert panel["type"] in PANEL_TYPES, f"{title}: type {panel['type']}"
        assert panel.get("datasource") == DATASOURCE, f"{title}: datasource {panel.get('datasource')}"
        targets = panel.get("targets", [])
        assert targets, f"{title}: no query"
        for target in targets:
            assert target.get("expr", "").strip(), f"{title}: target {target.get('refId')} has no expr"
            assert target.get("datasource", DATASOURCE) == DATASOURCE, f"{title}: target datasource"
        assert [target["refId"] for target in targets] == sorted({target["refId"] for target in targets})
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{title}: wider than the dashboard"
        ids.append(panel["id"])
    assert len(set(ids)) == len(ids), "panel ids repeat"


def test_every_variable_used_is_defined(board: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in board["templating"]["list"]}
    for variable in board["templating"]["list"]:
        assert variable.get("datasource", DATASOURCE) == DATASOURCE, variable["name"]
    for where, expr in expressions(board):
        assert variables_used(expr) <= defined, f"{where}: {variables_used(expr) - defined} undefined"


def test_every_metric_is_one_the_platform_exports(board: dict[str, Any]) -> None:
    for where, expr in expressions(board):
        names = metric_names(as_promql(expr))
        assert names, f"{where}: selects no metric: {expr}"
        assert names <= EXPORTED, f"{where}: not exported: {sorted(names - EXPORTED)}"


def test_units_read_as_the_quantity(board: dict[str, Any]) -> None:
    """Quantiles and ages in seconds, ratio gauges in percent."""
    for panel in panels(board):
        exprs = [target["expr"] for target in panel["targets"]]
        names = set().union(*(metric_names(as_promql(expr)) for expr in exprs))
        unit = panel["fieldConfig"]["defaults"].get("unit")
        if any("histogram_quantile" in expr for expr in exprs) or names <= {
            "candystore_ingest_oldest_held_seconds",
            "visibility_okr_time_to_detect_mean_seconds",
        }:
            assert unit == "s", f"{panel['title']}: unit {unit}"
        if all(name.endswith("_ratio") for name in names):
            assert unit == "percentunit", f"{panel['title']}: unit {unit}"


@pytest.mark.parametrize(
    ("promql", "expected"),
    [
        (
            (
                'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!="}", '
                'le=~".+"}[5m])))'
            ),
            {"http_request_duration_seconds_bucket"},
        ),
        (
            (
                '(sum(rate(bloodbank_publish_total{outcome="ok"}[5m:1m])) or vector(0)) '
                "/ (sum without (outcome) (rate(bloodbank_publish_total[5m] offset 1h)) > bool 1e-9)"
            ),
            {"bloodbank_publish_total"},
        ),
        (
            'up{job="candystore"} == 0 and on (instance) group_left (version) platform_build_info',
            {"up", "platform_build_info"},
        ),
        ("sum(rate(candystore_store_totl[5m])) by (outcome)", {"candystore_store_totl"}),
        ('label_replace(vector(1), "dst", "$1", "src", "(.*)")', set()),
    ],
)
def test_metric_names_skip_functions_keywords_labels_and_numbers(promql: str, expected: set[str]) -> None:
    assert metric_names(promql) == expected


def test_grafana_variables_become_plain_promql() -> None:
    expr = 'sum(rate(x{instance=~"$instance", q=~"${queue}.*", c=~"${consumer:regex}"}[$__rate_interval]))'
    assert as_promql(expr) == 'sum(rate(x{instance=~".*", q=~".*.*", c=~".*"}[5m]))'
    assert variables_used(expr + '[$__range] or label_replace(y, "a", "$1", "b", "(.*)")') == {
        "instance",
        "queue",
        "consumer",
    }


# --- promtool: every expression is valid PromQL -------------------------------------------------


@pytest.fixture
def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        unavailable("promtool is not installed (Debian's prometheus package): the dashboard queries cannot be checked")
    return tool


def test_promtool_accepts_every_panel_expression(promtool: str, tmp_path: Path) -> None:
    """Each expression, as a recording rule, passes `promtool check rules`: a typo fails here, not in a blank panel."""
    groups = []
    for path in DASHBOARD_FILES:
        board = load(path)
        rules = [
            {
                "record": f"dashboard:{path.stem.replace('-', '_')}:panel_{panel['id']}_{target['refId']}",
                "expr": as_promql(target["expr"]),
            }
            for panel in panels(board)
            for target in panel["targets"]
        ]
        groups.append({"name": path.stem, "rules": rules})
    rules_file = tmp_path / "dashboard_queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- provisioning -------------------------------------------------------------------------------


def expand_environment(value: str, environment: dict[str, str]) -> str:
    """Grafana's `$VAR` / `${VAR}` interpolation in provisioning files."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda match: environment[match.group(1) or match.group(2)], value)


def test_datasource_is_the_local_prometheus_with_the_fixed_uid() -> None:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [datasource] = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "prometheus"
    assert datasource["url"] == "http://127.0.0.1:9090"


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards" / "33god.yml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "33GOD"
    # Grafana is started with GF_PATHS_PROVISIONING pointing at deploy/grafana/provisioning.
    path = expand_environment(provider["options"]["path"], {"GF_PATHS_PROVISIONING": str(PROVISIONING)})
    assert Path(path).resolve() == DASHBOARDS.resolve()


# --- Alertmanager -------------------------------------------------------------------------------

_MATCHER = re.compile(r'^\s*(?P<label>\w+)\s*(?P<op>=~|!~|!=|=)\s*"?(?P<value>.*?)"?\s*$')


def matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for matcher in route.get("matchers", []):
        parsed = _MATCHER.match(matcher)
        assert parsed, f"unreadable matcher {matcher!r}"
        value, wanted, op = labels.get(parsed["label"], ""), parsed["value"], parsed["op"]
        found = re.fullmatch(wanted, value) is not None if "~" in op else value == wanted
        if found == op.startswith("!"):
            return False
    return True


def receiver_for(route: dict[str, Any], labels: dict[str, str], inherited: str = "") -> str:
    """Alertmanager's routing: the first matching child route, depth first, else the route itself."""
    receiver = route.get("receiver", inherited)
    for child in route.get("routes", []):
        if matches(child, labels):
            return receiver_for(child, labels, receiver)
    return str(receiver)


def routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from routes(child)


@pytest.fixture
def alertmanager() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER.read_text(encoding="utf-8"))
    return config


def test_every_route_names_a_receiver_that_exists(alertmanager: dict[str, Any]) -> None:
    receivers = {receiver["name"] for receiver in alertmanager["receivers"]}
    assert alertmanager["route"].get("receiver"), "the root route needs a default receiver"
    for route in routes(alertmanager["route"]):
        assert route.get("receiver", alertmanager["route"]["receiver"]) in receivers, route


def test_alerts_are_grouped_by_alertname_and_job(alertmanager: dict[str, Any]) -> None:
    assert set(alertmanager["route"]["group_by"]) == {"alertname", "job"}


def test_critical_pages_and_warnings_go_to_slack(alertmanager: dict[str, Any]) -> None:
    receivers = {receiver["name"]: receiver for receiver in alertmanager["receivers"]}

    critical = receivers[
        receiver_for(alertmanager["route"], {"alertname": "DeadLettersGrowing", "severity": "critical"})
    ]
    [pagerduty] = critical["pagerduty_configs"]
    assert pagerduty["routing_key_file"].startswith("/etc/alertmanager/")
    assert "routing_key" not in pagerduty, "the key belongs in the file, not in the repository"

    warning = receivers[
        receiver_for(alertmanager["route"], {"alertname": "DeadLettersAboveSlo", "severity": "warning"})
    ]
    [slack] = warning["slack_configs"]
    assert slack["api_url_file"] == "/etc/alertmanager/slack_webhook_url"
    assert "api_url" not in slack
    assert slack["channel"] == "#33god-alerts"


def test_a_critical_alert_silences_its_warning(alertmanager: dict[str, Any]) -> None:
    [inhibit] = alertmanager["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert set(inhibit["equal"]) == {"alertname", "job"}


def test_notification_templates_exist_and_show_summary_description_and_runbook(alertmanager: dict[str, Any]) -> None:
    # Alertmanager resolves template globs against the configuration file's directory.
    template_files = [path for glob in alertmanager["templates"] for path in ALERTMANAGER.parent.glob(glob)]
    assert template_files, alertmanager["templates"]
    templates = "\n".join(path.read_text(encoding="utf-8") for path in template_files)
    defined = set(re.findall(r'\{\{-?\s*define\s+"([^"]+)"', templates))
    used = set(re.findall(r'template\s+"([^"]+)"', ALERTMANAGER.read_text(encoding="utf-8")))
    assert used, "the receivers should use the shared templates"
    assert used <= defined, f"undefined templates: {used - defined}"
    slack_text = templates.split('define "33god.slack.text"', 1)[1].split("define", 1)[0]
    for annotation in ("summary", "description", "runbook_url"):
        assert f".Annotations.{annotation}" in slack_text, annotation
    assert re.search(r"<\{\{\s*\.\s*\}\}\|Runbook>", slack_text), "the runbook shows as a Slack link"
