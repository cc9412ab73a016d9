"""Every recording rule and every dashboard panel query returns data from a real Prometheus scraping a running platform.

`33god up --demo` runs on free ports, with extra traffic through the gateway (valid and refused events, a
batch with a refused item, unknown paths) so that the error-path series exist too. A Prometheus server
scrapes its four components every second and evaluates deploy/prometheus/rules.yml and alerts.yml as they
are. Each recording rule (by its name) and each panel query of deploy/grafana/dashboards (with Grafana's
variables filled in) must return at least one series. The few that cannot are listed below with the reason:
those a short, healthy run cannot feed, and those the platform cannot feed as `33god up` runs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx2 as httpx
import pytest
import yaml

from tests.stack.test_up import BIN, free_port, wait_until_serving

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULE_FILES = (DEPLOY / "prometheus" / "rules.yml", DEPLOY / "prometheus" / "alerts.yml")
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
JOBS = ("bloodbank", "candystore", "candybar", "visibility")  # the job names of deploy/prometheus/prometheus.yml
DEADLINE_SECONDS = 90.0

# Recording rules that cannot have a series in a short run: {record name: why}.
NO_DATA_IN_A_SHORT_RUN: dict[str, str] = {}

# Panel queries that cannot have a series in a short run: {(dashboard uid, panel title): why}.
PANELS_WITHOUT_DATA_IN_A_SHORT_RUN: dict[tuple[str, str], str] = {
    ("33god-dead-letters", "Unrouted events"): (
        'bloodbank_publish_total{outcome="unrouted"} only exists once an event matched no binding, which cannot '
        "happen while Candystore's queue takes every event type (candystore_unrouted_total, its other target, "
        "is checked through the panel 'Unrouted, selected range')"
    ),
}

# Panels the platform cannot feed as `33god up` runs it (not a matter of time): {(dashboard uid, panel title): why}.
# Each must still return nothing, so that an entry goes as soon as the platform exports what the panel reads.
PANELS_THE_EMBEDDED_BROKER_CANNOT_FEED: dict[tuple[str, str], str] = {
    ("33god-consumers", "Retry tier depth"): (
        "the embedded broker keeps a retried message in its consumer queue (available_at) instead of a "
        "<consumer>.retry.<delay> queue, so bloodbank_queue_messages has no retry-tier series"
    ),
}

# What Grafana puts in for its own variables; the dashboards' variables become a regex matching anything.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "1m", "__range": "5m"}
# $name, ${name}, ${name:format} and [[name]]; a name starts with a letter or `_`, so "$1" is left alone.
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\[\[([A-Za-z_]\w*)(?::\w+)?\]\]|\$([A-Za-z_]\w*)")


def recording_rules() -> list[str]:
    """The `record` names of deploy/prometheus/rules.yml, in file order."""
    groups = yaml.safe_load(RULE_FILES[0].read_text())["groups"]
    return [str(rule["record"]) for group in groups for rule in group["rules"] if "record" in rule]


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a row's collapsed panels


def grafana_to_promql(expr: str) -> str:
    """``expr`` as Grafana sends it to Prometheus, with every template variable matching all values."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name.startswith("__") and name not in GRAFANA_BUILTINS:
            raise ValueError(f"no value for Grafana's ${name} in {expr!r}")
        return GRAFANA_BUILTINS.get(name, ".*")

    return _VARIABLE.sub(value, expr)


def panel_queries() -> dict[tuple[str, str, int], str]:
    """Every panel target's PromQL, keyed by (dashboard uid, panel title, target index)."""
    queries: dict[tuple[str, str, int], str] = {}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard["panels"]):
            for index, target in enumerate(panel.get("targets", [])):
                if "expr" in target:
                    queries[dashboard["uid"], panel["title"], index] = grafana_to_promql(target["expr"])
    return queries


def start_platform(tmp_path: Path, ports: Mapping[str, int], log: TextIO) -> subprocess.Popen[str]:
    """`33god up --demo`, isolated from the caller's settings, with its data under ``tmp_path``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BLOODBANK_", "CANDYSTORE_", "VISIBILITY_"))
    }
    environment |= {
        "NO_COLOR": "1",
        "BLOODBANK_DATA_DIR": str(tmp_path),
        "CANDYSTORE_DATA_DIR": str(tmp_path),
        "BLOODBANK_WATCH_SECONDS": "1",
        # Alerting on, towards a port nothing listens on: the Slack delivery series (failures) exist.
        "VISIBILITY_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/slack",
        "VISIBILITY_ALERT_GROUP_WINDOW": "1",
    }
    options = {
        "--port": ports["bloodbank"],
        "--candystore-port": ports["candystore"],
        "--candybar-port": ports["candybar"],
        "--visibility-port": ports["visibility"],
        "--receiver-port": free_port(),
    }
    return subprocess.Popen(
        [
            str(BIN / "33god"),
            "up",
            "--demo",
            "--demo-rate",
            "5",
            *(item for option, port in options.items() for item in (option, str(port))),
        ],
        stdout=log,  # a file, not a pipe: the demo logs enough to fill a pipe nobody reads
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )


def send_traffic(gateway: str, store: str, visibility: str) -> None:
    """Valid events and the error paths: refused events (422), a batch with a refused item, unknown paths (404)."""
    offer_type = "retail.offer.surfaced.v1"
    with httpx.Client(timeout=10) as client:
        offer = client.get(f"{gateway}/schemas/{offer_type}").json()["examples"][0]
        for number in range(5):
            # A store no inventory snapshot covers: the visibility layer counts unverifiable checks.
            event = {"event_type": offer_type, "payload": offer | {"store_id": f"store-test-{number}"}}
            accepted = client.post(f"{gateway}/events", json=event)
            assert accepted.status_code == 202, accepted.text
        for refused in ({"event_type": offer_type, "payload": {}}, {"event_type": "no.such.type.v1", "payload": {}}):
            answer = client.post(f"{gateway}/events", json=refused)
            assert answer.status_code == 422, answer.text
        batch = [{"event_type": offer_type, "payload": offer}, {"event_type": offer_type, "payload": {"price": "x"}}]
        answer = client.post(f"{gateway}/events/batch", json=batch)
        assert answer.status_code == 200, answer.text
        assert [item["status"] for item in answer.json()["results"]] == ["accepted", "rejected"]
        for base in (gateway, store, visibility):
            assert client.get(f"{base}/no-such-path").status_code == 404


def write_prometheus_config(tmp_path: Path, ports: Mapping[str, int]) -> Path:
    """The deployed jobs scraped every second, with the repository's own rule files."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{ports[job]}"]}]} for job in JOBS
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_until_ready(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait for Prometheus's readiness endpoint (it answers 503 while it replays or loads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s")


def has_series(client: httpx.Client, prometheus: str, query: str) -> bool:
    """Whether an instant query returns at least one series; a query Prometheus refuses fails the test."""
    body = client.get(f"{prometheus}/api/v1/query", params={"query": query}).json()
    if body["status"] != "success":
        pytest.fail(f"Prometheus refused {query!r}: {body.get('error')}")
    return bool(body["data"]["result"])


def wait_for_series(
    prometheus: str, queries: Mapping[str, str], running: Mapping[str, subprocess.Popen[str]]
) -> dict[str, str]:
    """Poll until every query has a series or the deadline passes; returns those without one."""
    missing = dict(queries)
    deadline = time.monotonic() + DEADLINE_SECONDS
    with httpx.Client(timeout=10) as client:
        while missing and time.monotonic() < deadline:
            for name, process in running.items():
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}")
            missing = {label: query for label, query in missing.items() if not has_series(client, prometheus, query)}
            if missing:
                time.sleep(1)
    return missing


def unhealthy_targets(prometheus: str) -> list[str]:
    """Scrape targets that are not up, with their last error, to explain missing series."""
    targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    return [f"{target['labels']['job']}: {target['lastError']}" for target in targets if target["health"] != "up"]


@pytest.mark.prometheus
def test_every_recording_rule_and_dashboard_panel_query_returns_data(tmp_path: Path) -> None:
    records = recording_rules()
    panels = panel_queries()
    titles = {(uid, title) for uid, title, _ in panels}
    excused = PANELS_WITHOUT_DATA_IN_A_SHORT_RUN | PANELS_THE_EMBEDDED_BROKER_CANNOT_FEED
    stale = [name for name in NO_DATA_IN_A_SHORT_RUN if name not in records]
    stale += [f"{uid} / {title}" for uid, title in excused if (uid, title) not in titles]
    assert not stale, f"excused from having data but no longer a recording rule or panel: {stale}"

    queries = {f"recording rule {name}": name for name in records if name not in NO_DATA_IN_A_SHORT_RUN}
    queries |= {
        f"panel {uid} / {title!r} target {index}: {query}": query
        for (uid, title, index), query in panels.items()
        if (uid, title) not in excused
    }
    unfed = {
        f"panel {uid} / {title!r} target {index}: {query}": query
        for (uid, title, index), query in panels.items()
        if (uid, title) in PANELS_THE_EMBEDDED_BROKER_CANNOT_FEED
    }
    ports = {job: free_port() for job in JOBS}
    urls = {job: f"http://127.0.0.1:{port}" for job, port in ports.items()}
    prometheus_url = f"http://127.0.0.1:{free_port()}"
    with (tmp_path / "33god-up.log").open("w") as up_log, (tmp_path / "prometheus.log").open("w") as prometheus_log:
        platform = start_platform(tmp_path, ports, up_log)
        try:
            wait_until_serving(f"{urls['bloodbank']}/health/ready", platform)
            wait_until_serving(f"{urls['visibility']}/health/ready", platform)
            send_traffic(urls["bloodbank"], urls["candystore"], urls["visibility"])
            prometheus = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={write_prometheus_config(tmp_path, ports)}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address={prometheus_url.removeprefix('http://')}",
                ],
                stdout=prometheus_log,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                wait_until_ready(f"{prometheus_url}/-/ready", prometheus)
                missing = wait_for_series(prometheus_url, queries, {"33god up": platform, "prometheus": prometheus})
                targets = unhealthy_targets(prometheus_url) if missing else []
                with httpx.Client(timeout=10) as client:
                    fed = [label for label, query in unfed.items() if has_series(client, prometheus_url, query)]
            finally:
                prometheus.terminate()
                prometheus.wait(timeout=30)
        finally:
            platform.send_signal(signal.SIGINT)
            platform.wait(timeout=60)
    assert not missing, (
        f"{len(missing)} of {len(queries)} queries returned no series within {DEADLINE_SECONDS:g} s:\n"
        + "\n".join(missing)
        + (f"\ntargets not up: {targets}" if targets else "")
    )
    assert not fed, f"now fed by the platform, remove them from PANELS_THE_EMBEDDED_BROKER_CANNOT_FEED: {fed}"
    assert platform.returncode == 0, (tmp_path / "33god-up.log").read_text()[-3000:]
