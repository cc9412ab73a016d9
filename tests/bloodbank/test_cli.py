"""`bloodbank publish / topology / tail` from the shell's point of view, on the embedded broker and on RabbitMQ."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bloodbank import BloodbankSettings, Bus
from bloodbank.cli import TailPrinter, app, follow
from bloodbank.topology import STORE_QUEUE, UNROUTED_QUEUE
from bloodbank.transport import Delivery
from bloodbank.transport.embedded import EmbeddedTransport
from holyfields import default_catalog
from holyfields.validation import decode_json

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER: dict[str, Any] = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
BIN = Path(sys.executable).parent
runner = CliRunner()


def invoke(tmp_path: Path, *args: str) -> Any:
    """Run `bloodbank ARGS` in-process with the embedded broker in ``tmp_path``."""
    environment = {"BLOODBANK_DATA_DIR": str(tmp_path), "BLOODBANK_BROKER_URL": None, "BLOODBANK_API_KEYS": None}
    return runner.invoke(app, list(args), env=environment)


def test_tail_refuses_a_malformed_pattern_before_connecting(tmp_path: Path) -> None:
    """`bloodbank tail` with a pattern no event type can match exits 1 saying what is wrong."""
    result = invoke(tmp_path, "tail", "retail.*.#", "retail..offer")
    assert result.exit_code == 1
    assert "'retail..offer' is not a valid event-type pattern" in result.output


def stored_events(tmp_path: Path) -> list[dict[str, Any]]:
    """Every event waiting for Candystore in `candystore.events` of the embedded broker in ``tmp_path`` (taken off)."""

    async def drain() -> list[dict[str, Any]]:
        transport = EmbeddedTransport(tmp_path / "bloodbank.sqlite3")
        await transport.connect()
        try:
            if await transport.queue_depth(UNROUTED_QUEUE):
                raise AssertionError("an event went to unrouted.all although the store's queue is declared")
            expected = await transport.queue_depth(STORE_QUEUE.name)
            events: list[dict[str, Any]] = []

            async def keep(delivery: Delivery) -> None:
                events.append(decode_json(delivery.body))
                await delivery.ack()

            subscription = await transport.consume_queue(STORE_QUEUE.name, keep, prefetch=10)
            deadline = time.monotonic() + 10
            while len(events) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await subscription.stop(timeout=5)
            return events
        finally:
            await transport.close()

    return asyncio.run(drain())


def test_publish_prints_the_id_and_the_event_is_on_the_bus(tmp_path: Path) -> None:
    """`bloodbank publish` prints only the confirmed event's id on stdout, and the event is on the bus as given."""
    parent = str(uuid.uuid4())
    payload_file = tmp_path / "offer.json"
    payload_file.write_text(json.dumps(OFFER))
    result = invoke(tmp_path, "publish", OFFER_TYPE, "--payload", f"@{payload_file}", "--correlation-id", parent)
    assert result.exit_code == 0, result.output
    event_id = result.stdout.strip()
    assert uuid.UUID(event_id).version == 7
    [event] = stored_events(tmp_path)
    assert event["event_id"] == event_id
    assert event["payload"] == OFFER
    assert event["correlation_ids"] == [parent]
    assert event["source"]["type"] == "manual"


def test_invalid_payload_prints_every_path_and_exits_1(tmp_path: Path) -> None:
    """An invalid payload prints each problem as `path: message`, exits 1 without a traceback, and publishes nothing."""
    payload = {**OFFER, "price": "cheap"}
    del payload["currency"]
    result = invoke(tmp_path, "publish", OFFER_TYPE, "--payload", json.dumps(payload))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "$.payload.currency: is required",
        "$.payload.price: expected number, got string 'cheap'",
    ]
    assert stored_events(tmp_path) == []


def test_payload_that_is_not_a_json_object_exits_1(tmp_path: Path) -> None:
    """A payload that is not JSON, or not an object, is reported at `$.payload` with exit code 1."""
    broken = invoke(tmp_path, "publish", OFFER_TYPE, "--payload", '{"team": ')
    assert broken.exit_code == 1
    assert broken.stderr.startswith("$.payload: not valid JSON: ")
    array = invoke(tmp_path, "publish", OFFER_TYPE, "--payload", "[1, 2]")
    assert array.exit_code == 1
    assert array.stderr == "$.payload: expected an object, got array\n"


def test_unreachable_broker_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    """When the broker cannot be reached, publish says where it tried and exits 2."""
    environment = {"BLOODBANK_DATA_DIR": str(tmp_path), "BLOODBANK_BROKER_URL": "amqp://guest:secret@127.0.0.1:1/"}
    result = runner.invoke(app, ["publish", OFFER_TYPE, "--payload", json.dumps(OFFER)], env=environment)
    assert result.exit_code == 2
    assert "cannot reach the broker (RabbitMQ at amqp://127.0.0.1:1/)" in result.stderr
    assert "secret" not in result.stderr


def test_topology_verify_fails_on_a_fresh_broker_until_declared(tmp_path: Path) -> None:
    """`topology --verify` exits 1 naming what is missing on a fresh broker, and passes after `topology` declared it."""
    fresh = invoke(tmp_path, "topology", "--verify")
    assert fresh.exit_code == 1
    assert "'unrouted.all'" in fresh.stderr
    assert "the queue does not exist" in fresh.stderr
    declared = invoke(tmp_path, "topology")
    assert declared.exit_code == 0, declared.output
    assert "bloodbank.events.v1" in declared.stdout
    assert "candystore.events" in declared.stdout
    assert declared.stdout.rstrip().endswith("declared")
    verified = invoke(tmp_path, "topology", "--verify")
    assert verified.exit_code == 0
    assert "dlq.all" in verified.stdout
    assert verified.stdout.rstrip().endswith("verified: it exists as declared")


async def test_tail_with_count_and_json_prints_matching_events(tmp_path: Path) -> None:
    """Following `retail.#` with `--count 1 --json` prints the first matching event as one JSON line, then stops."""
    bus = await Bus.start(BloodbankSettings(data_dir=tmp_path), transport=EmbeddedTransport(":memory:"))
    output = io.StringIO()
    printer = TailPrinter(Console(file=output), as_json=True, count=1)
    following = asyncio.create_task(follow(bus.transport, ["retail.#"], printer))
    try:
        segment = default_catalog().get("fireflies.transcript.segment.v1").examples[0]  # type: ignore[union-attr]
        published: list[str] = []
        while not following.done():  # the tail starts asynchronously: publish until it has seen one
            await bus.publish("fireflies.transcript.segment.v1", segment)
            published.append(await bus.publish(OFFER_TYPE, {**OFFER, "quantity": 2**70}))
            await asyncio.wait({following}, timeout=0.05)
        await following
    finally:
        following.cancel()
        await bus.close(timeout=5)
    [line] = output.getvalue().splitlines()
    event = json.loads(line)
    assert event["event_type"] == OFFER_TYPE
    assert event["event_id"] in published
    assert event["payload"]["quantity"] == 2**70


async def test_tail_summary_shows_time_type_id_app_and_payload() -> None:
    """Without `--json`, each event is one line: UTC time, event type, id, source app and the compact payload."""
    output = io.StringIO()
    printer = TailPrinter(Console(file=output, width=400), as_json=False)
    envelope = {
        "event_id": "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
        "event_type": OFFER_TYPE,
        "timestamp": "2026-11-02T09:03:27.512-05:00",
        "source": {"host": "h", "type": "system", "app": "magic-apron"},
        "payload": {"price": 39.98},
    }
    await printer(CopiedDelivery(json.dumps(envelope).encode()))
    assert output.getvalue().split() == [
        "14:03:27.512",
        OFFER_TYPE,
        "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
        "magic-apron",
        '{"price":39.98}',
    ]


class CopiedDelivery(Delivery):
    """A delivery with nothing to settle, like the copies a tail receives."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.routing_key = OFFER_TYPE
        self.message_id = None
        self.headers = {}
        self.redelivered = False

    async def ack(self) -> None:
        pass

    async def retry(self, *, delay: float, headers: Any) -> None:
        pass

    async def dead_letter(self, *, headers: Any) -> None:
        pass

    async def release(self) -> None:
        pass


@pytest.mark.rabbitmq
def test_tail_command_receives_an_event_published_by_another_process(rabbitmq_url: str, tmp_path: Path) -> None:
    """`bloodbank tail --count 1 --json` in one process prints the event `bloodbank publish` sent from another."""
    environment = {**os.environ, "BLOODBANK_BROKER_URL": rabbitmq_url, "BLOODBANK_DATA_DIR": str(tmp_path)}
    tail = subprocess.Popen(
        [str(BIN / "bloodbank"), "tail", "retail.#", "--count", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        _wait_for_line(tail, "following retail.#", timeout=30)
        published = subprocess.run(
            [str(BIN / "bloodbank"), "publish", OFFER_TYPE, "--payload", json.dumps(OFFER)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=True,
        )
        output, _ = tail.communicate(timeout=30)
    finally:
        tail.kill()
        tail.wait()
    assert tail.returncode == 0
    [line] = output.splitlines()
    assert json.loads(line)["event_id"] == published.stdout.strip()


def _wait_for_line(process: subprocess.Popen[str], text: str, *, timeout: float) -> None:
    """Read the process's stderr until a line contains ``text``; fail after ``timeout`` seconds."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.1)
        if ready:
            line = process.stderr.readline()
            seen.append(line)
            if text in line:
                return
        if process.poll() is not None:
            break
    pytest.fail(f"{text!r} not printed within {timeout} s; stderr was: {''.join(seen)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_publishes_until_sigterm_and_a_second_one_on_the_same_data_is_refused(tmp_path: Path) -> None:
    """`bloodbank serve` answers ready and 202 on its port, stops cleanly on SIGTERM, and the event was kept.

    A second gateway on the same embedded data directory exits 2, telling why.
    """
    port = _free_port()
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("BLOODBANK_")},
        "BLOODBANK_DATA_DIR": str(tmp_path),
    }
    serve = subprocess.Popen(
        [str(BIN / "bloodbank"), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        deadline = time.monotonic() + 60
        while (ready := _get(f"http://127.0.0.1:{port}/health/ready")) is None or ready.status_code != 200:
            assert serve.poll() is None, serve.communicate()[1]
            assert time.monotonic() < deadline, "bloodbank serve did not become ready"
            time.sleep(0.2)
        accepted = httpx.post(
            f"http://127.0.0.1:{port}/events", json={"event_type": OFFER_TYPE, "payload": OFFER}, timeout=10
        )
        assert accepted.status_code == 202, accepted.text
        second = subprocess.run(
            [str(BIN / "bloodbank"), "serve", "--port", str(_free_port())],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert "The embedded broker serves one process at a time" in second.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr
    assert f"Bloodbank gateway on http://127.0.0.1:{port} (embedded broker" in stderr
    # No Candystore runs on this data directory: the accepted event waits in the store's queue.
    [kept] = stored_events(tmp_path)
    assert kept["event_id"] == accepted.json()["event_id"]


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
