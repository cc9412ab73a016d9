"""End to end on the real services: producer → gateway → RabbitMQ → Candystore on PostgreSQL → query, trace, stream.

`33god up --demo` runs as its own process on an isolated vhost and schema; the test
publishes a correlated chain through the gateway, watches it arrive on the live stream,
reads it back exactly, traces it, and sends a failing run through the demo notifier into
the dead letters and back out with a replay. The demo's own pull requests enter as signed
GitHub deliveries and go out again to the demo's receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect

from bloodbank import build_envelope
from holyfields import default_catalog
from tests.stack.test_up import BIN, free_port, wait_until_serving

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def _example(event_type: str) -> dict[str, Any]:
    return next(s.examples[0] for s in default_catalog().payload_schemas() if str(s.event_type) == event_type)


async def _publish(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    answer = await client.post("/events", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_id"])


async def _eventually(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s")


@pytest.fixture
def platform(tmp_path: Path, rabbitmq_url: str, postgres_schema: Any) -> Any:
    gateway_port, store_port, ui_port = free_port(), free_port(), free_port()
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("BLOODBANK_", "CANDYSTORE_", "VISIBILITY_"))
    }
    environment |= {
        "NO_COLOR": "1",
        "BLOODBANK_BROKER_URL": rabbitmq_url,
        "BLOODBANK_DATA_DIR": str(tmp_path),
        "CANDYSTORE_DATABASE_URL": postgres_schema.sqlalchemy_url,
        "CANDYSTORE_DATABASE_SCHEMA": postgres_schema.name,
        "CANDYSTORE_DATA_DIR": str(tmp_path),
        "CANDYSTORE_BATCH_WAIT": "0.01",
    }
    process = subprocess.Popen(
        [
            str(BIN / "33god"),
            "up",
            "--demo",
            "--demo-rate",
            "0.5",
            "--port",
            str(gateway_port),
            "--candystore-port",
            str(store_port),
            "--candybar-port",
            str(ui_port),
            "--visibility-port",
            str(free_port()),
            "--receiver-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    gateway, store = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{store_port}"
    try:
        wait_until_serving(f"{gateway}/health/ready", process)
        wait_until_serving(f"{store}/health/ready", process)
        yield gateway, store
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output
    assert "PostgreSQL at postgresql+asyncpg://postgres@" in output
    assert "demo receiver refused" not in output


async def test_a_correlated_chain_is_streamed_stored_read_back_and_traced(platform: tuple[str, str]) -> None:
    """Four theboard events (one with two parents) arrive live, read back exactly, and trace as one graph."""
    gateway, store = platform
    meeting = _example("theboard.meeting.created.v1") | {"meeting_id": "0193a6b0-1f2e-7d3c-9a4b-000000e2e001"}
    first = build_envelope(
        "theboard.meeting.created.v1",
        meeting,
        source={"host": "e2e", "type": "manual", "app": "e2e-test"},
        agent_context={"type": "claude", "name": "e2e-agent"},
    )
    ws_url = store.replace("http://", "ws://") + "/events/stream?source_app=e2e-test"
    async with connect(ws_url) as stream, httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        created = await _publish(client, first)
        source = {"source": {"host": "e2e", "type": "system", "app": "e2e-test"}}
        started = await _publish(
            client,
            {
                "event_type": "theboard.meeting.started.v1",
                "payload": _example("theboard.meeting.started.v1"),
                "correlation_ids": [created],
                **source,
            },
        )
        round_ = await _publish(
            client,
            {
                "event_type": "theboard.round.completed.v1",
                "payload": _example("theboard.round.completed.v1"),
                "correlation_ids": [started],
                **source,
            },
        )
        brainstorm = await _publish(
            client,
            {
                "event_type": "theboard.brainstorm.completed.v1",
                "payload": _example("theboard.brainstorm.completed.v1"),
                "correlation_ids": [started, round_],
                **source,
            },
        )
        streamed: dict[str, dict[str, Any]] = {}
        while len(streamed) < 4:
            message = json.loads(await asyncio.wait_for(stream.recv(), timeout=15))
            streamed[message["event_id"]] = message
    assert set(streamed) == {created, started, round_, brainstorm}

    async with httpx.AsyncClient(base_url=store, timeout=30) as client:
        assert (await client.get(f"/events/{created}")).json() == first
        children = (await client.get("/events", params={"correlation_id": started})).json()["items"]
        assert {item["event_id"] for item in children} == {round_, brainstorm}
        by_agent = (await client.get("/events", params={"agent_name": "e2e-agent"})).json()["items"]
        assert [item["event_id"] for item in by_agent] == [created]
        trace = (await client.get(f"/events/trace/{round_}")).json()
    assert {node["event_id"] for node in trace["nodes"]} == {created, started, round_, brainstorm}
    assert {(edge["parent"], edge["child"]) for edge in trace["edges"]} == {
        (created, started),
        (started, round_),
        (started, brainstorm),
        (round_, brainstorm),
    }
    assert trace["truncated"] is False


async def test_a_failing_run_is_dead_lettered_kept_and_replayed(platform: tuple[str, str]) -> None:
    """A failed workflow run fails the demo notifier 4 times, lands in /dlq with why, and replay resolves it."""
    gateway, store = platform
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        run = _example("github.workflow.completed.v1") | {"conclusion": "failure", "run_id": 424242}
        event_id = await _publish(client, {"event_type": "github.workflow.completed.v1", "payload": run})

    async with httpx.AsyncClient(base_url=store, timeout=30) as client:

        async def kept() -> dict[str, Any] | None:
            items = (await client.get("/dlq", params={"consumer": "demo.notifier", "state": "open"})).json()["items"]
            return next((item for item in items if item["event_id"] == event_id), None)

        letter = await _eventually(kept, "the failed run did not reach the dead letters", timeout=45)
        assert letter["attempts"] == 4
        assert "NotifierFailure: chat webhook refused" in letter["error"]
        replayed = await client.post("/dlq/replay", json={"actor": "e2e", "ids": [letter["id"]]})
        assert replayed.status_code == 200, replayed.text
        assert [item["outcome"] for item in replayed.json()["results"]] == ["replayed"]
        after = (await client.get(f"/dlq/{letter['id']}")).json()
        assert after["state"] == "resolved"
        assert after["resolved_by"] == "e2e"
        assert (await client.get(f"/events/{event_id}")).json()["payload"]["run_id"] == 424242


async def test_a_signed_github_delivery_is_stored_traced_and_delivered_out(platform: tuple[str, str]) -> None:
    """The demo's pull requests enter as signed GitHub deliveries; their runs trace back to them, and the
    demo subscription delivers them to the demo receiver, which verified each signature."""
    _, store = platform
    async with httpx.AsyncClient(base_url=store, timeout=30) as client:

        async def traced_pull_request() -> dict[str, Any] | None:
            opened: list[dict[str, Any]] = (
                await client.get("/events", params={"event_type": "github.pr.opened.v1"})
            ).json()["items"]
            for event in opened:
                children = (await client.get("/events", params={"correlation_id": event["event_id"]})).json()
                if event["source"]["type"] == "webhook" and children["items"]:
                    return event
            return None

        pull_request = await _eventually(traced_pull_request, "no pull request came in by webhook", timeout=120)
        assert pull_request["source"]["app"] == "github"
        trace = (await client.get(f"/events/trace/{pull_request['event_id']}")).json()
        assert {node["event_type"] for node in trace["nodes"]} >= {
            "github.pr.opened.v1",
            "github.workflow.completed.v1",
        }
        subscription = (await client.get("/subscriptions/demo-receiver")).json()
        assert subscription["patterns"] == ["github.#"]
        assert "secret" not in subscription

        async def delivered() -> bool:
            metrics = (await client.get("/metrics")).text
            line = next(
                (
                    line
                    for line in metrics.splitlines()
                    if line.startswith("candystore_deliveries_total{")
                    and 'subscription="demo-receiver"' in line
                    and 'outcome="delivered"' in line
                ),
                None,
            )
            return line is not None and float(line.rsplit(" ", 1)[1]) > 0

        await _eventually(delivered, "nothing was delivered to the demo receiver", timeout=60)
