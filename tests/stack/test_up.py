"""`33god up` serves the platform from a real process; `33god bench` prints its figures as JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml

from tests.deploy.exported import EXPORTED

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"33god up exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s")


DEPLOY = Path(__file__).parents[2] / "deploy"
_PLATFORM_METRIC = re.compile(
    r"(?<![\w:])((?:bloodbank|candystore|visibility|http|platform|process)_[a-z0-9_]+)(?![\w:(])"
)


def queried_metrics() -> set[str]:
    """The metric families the recording rules, the alerts and the dashboards in deploy/ query."""
    expressions = [
        str(rule["expr"])
        for name in ("rules.yml", "alerts.yml")
        for group in yaml.safe_load((DEPLOY / "prometheus" / name).read_text())["groups"]
        for rule in group["rules"]
    ]
    for dashboard in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        expressions += re.findall(r'"expr":\s*"((?:[^"\\]|\\.)*)"', dashboard.read_text())
    names = set(_PLATFORM_METRIC.findall(" ".join(expressions)))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in names}


def check_exposition(text: str, where: str) -> None:
    """``promtool check metrics`` accepts the text (when promtool is installed; the rule tests require it in CI)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"{where}: {checked.stdout}{checked.stderr}"


def test_up_serves_the_gateway_and_the_schema_registry_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`33god up` prints its URLs, accepts events on the embedded bus, serves /schemas, and exits cleanly on SIGINT."""
    port, store_port, ui_port, visibility_port = free_port(), free_port(), free_port(), free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BLOODBANK_", "CANDYSTORE_", "VISIBILITY_"))
    }
    process = subprocess.Popen(
        [
            str(BIN / "33god"),
            "up",
            "--port",
            str(port),
            "--candystore-port",
            str(store_port),
            "--candybar-port",
            str(ui_port),
            "--visibility-port",
            str(visibility_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment, "NO_COLOR": "1", "BLOODBANK_DATA_DIR": str(tmp_path), "CANDYSTORE_DATA_DIR": str(tmp_path)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/health/ready", process)
        ui = httpx.get(f"http://127.0.0.1:{ui_port}/config.json", timeout=5).json()
        assert ui["apis"]["gateway"] == base
        assert ui["apis"]["candystore"] == f"http://127.0.0.1:{store_port}"
        assert ui["apis"]["visibility"] == f"http://127.0.0.1:{visibility_port}"
        conflicts = httpx.get(f"http://127.0.0.1:{visibility_port}/conflicts", timeout=5)
        assert conflicts.status_code == 200, conflicts.text
        exposed = ""
        for each in (port, store_port, ui_port, visibility_port):
            text = httpx.get(f"http://127.0.0.1:{each}/metrics", timeout=5).text
            check_exposition(text, f"/metrics on port {each}")
            exposed += text
        declared = set(re.findall(r"^# TYPE (\S+) ", exposed, flags=re.MULTILINE))
        declared |= {name.removesuffix("_total") for name in declared}
        missing = {name for name in queried_metrics() if name not in declared and f"{name}_total" not in declared}
        assert not missing, f"deploy/ queries metrics no component exposes: {sorted(missing)}"
        listed = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in EXPORTED}
        assert listed <= declared, f"tests/deploy/exported.py lists what no component exposes: {listed - declared}"
        preflight = httpx.options(
            f"http://127.0.0.1:{store_port}/events",
            headers={"Origin": f"http://127.0.0.1:{ui_port}", "Access-Control-Request-Method": "GET"},
            timeout=5,
        )
        assert preflight.headers["access-control-allow-origin"] == f"http://127.0.0.1:{ui_port}"
        schemas = httpx.get(f"{base}/schemas", timeout=5).json()["items"]
        assert len(schemas) == 23
        offer = next(item for item in schemas if item["event_type"] == "retail.offer.surfaced.v1")
        example = httpx.get(f"{base}/schemas/{offer['event_type']}", timeout=5).json()["examples"][0]
        accepted = httpx.post(
            f"{base}/events", json={"event_type": "retail.offer.surfaced.v1", "payload": example}, timeout=10
        )
        assert accepted.status_code == 202, accepted.text
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"schema registry  {base}/schemas" in output
    assert f"publish          POST {base}/events, POST {base}/events/batch" in output
    assert f"embedded broker at {tmp_path / 'bloodbank.sqlite3'}" in output
    assert (tmp_path / "bloodbank.sqlite3").exists()
    assert f"SQLite at {tmp_path / 'candystore.sqlite3'}" in output


def _start_up(data_dir: Path, ports: list[int]) -> subprocess.Popen[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("BLOODBANK_", "CANDYSTORE_", "VISIBILITY_"))
    }
    options = ["--port", "--candystore-port", "--candybar-port", "--visibility-port"]
    return subprocess.Popen(
        [str(BIN / "33god"), "up", *(item for pair in zip(options, map(str, ports), strict=True) for item in pair)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment, "NO_COLOR": "1", "BLOODBANK_DATA_DIR": str(data_dir), "CANDYSTORE_DATA_DIR": str(data_dir)},
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def test_ctrl_c_right_after_accepting_loses_no_event(tmp_path: Path) -> None:
    """Events accepted just before Ctrl-C are all stored: at once, or from the queue on the next start."""
    ports = [free_port() for _ in range(4)]
    gateway, store = f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    payload = {
        "workflow_id": "ctrlc",
        "workflow_name": "ctrl-c",
        "execution_id": "1",
        "mode": "manual",
        "started_at": "2026-11-30T10:00:00Z",
        "input": {},
    }
    accepted: set[str] = set()
    process = _start_up(tmp_path, ports)
    try:
        wait_until_serving(f"{store}/health/ready", process)
        for _ in range(5):
            batch = [
                {
                    "event_type": "n8n.workflow.started.v1",
                    "payload": payload,
                    "source": {"host": "test", "type": "manual", "app": "ctrl-c-test"},
                }
                for _ in range(200)
            ]
            answer = httpx.post(f"{gateway}/events/batch", json=batch, timeout=30)
            assert answer.status_code in {200, 207}, answer.text
            accepted |= {item["event_id"] for item in answer.json()["results"] if item["status"] == "accepted"}
    finally:
        _stop(process)
    assert len(accepted) == 1000

    process = _start_up(tmp_path, ports)
    try:
        wait_until_serving(f"{store}/health/ready", process)
        deadline = time.monotonic() + 30
        stored: set[str] = set()
        while time.monotonic() < deadline and stored != accepted:
            stored, cursor = set(), None
            while True:
                params: dict[str, str | int] = {"source_app": "ctrl-c-test", "limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                page = httpx.get(f"{store}/events", params=params, timeout=10).json()
                stored |= {item["event_id"] for item in page["items"]}
                if not (cursor := page["next_cursor"]):
                    break
            time.sleep(0.2)
    finally:
        _stop(process)
    assert stored == accepted, f"{len(accepted - stored)} accepted events were not stored"


def test_bench_validation_ends_with_a_json_line() -> None:
    """`33god bench validation` measures ours and the baseline and ends with one JSON object."""
    result = subprocess.run(
        [str(BIN / "33god"), "bench", "validation", "--seconds", "0.2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "validation"
    assert figures["unit"] == "events/s"
    assert figures["ours"] > 0
    assert figures["baseline"]["value"] > 0
    assert figures["ratio"] == pytest.approx(figures["ours"] / figures["baseline"]["value"], rel=0.01)


def test_bench_rejects_an_unknown_name() -> None:
    """An unknown benchmark name is answered with the valid names and exit code 2."""
    result = subprocess.run(
        [str(BIN / "33god"), "bench", "nope"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "choose one of validation" in result.stdout


def test_bench_gateway_ends_with_a_json_line(tmp_path: Path) -> None:
    """`33god bench gateway` drives the gateway and its baseline and reports both, every answer checked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODBANK_")}
    result = subprocess.run(
        [str(BIN / "33god"), "bench", "gateway", "--seconds", "0.5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "gateway"
    assert figures["broker"] == "embedded"
    assert figures["ours"] > 0
    assert figures["batch_events_per_s"] > 0
    assert figures["baseline"]["value"] > 0
