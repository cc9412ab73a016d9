"""``33god bench gateway``: single-event POSTs and batches through the gateway, against a bare ASGI endpoint.

The gateway runs as its own process (as ``bloodbank serve`` runs it), on the broker the
settings point at (embedded when ``BLOODBANK_BROKER_URL`` is unset), and answers each
event only after the broker's confirm. The baseline is the same uvicorn serving an ASGI
app that reads the body and answers 202 without doing anything: the HTTP stack's own
ceiling on this machine, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import msgspec
from rich.console import Console

from bloodbank import BloodbankSettings
from holyfields import default_catalog
from stack.bench.http_load import LoadResult, request_bytes, run_load
from stack.bench.sandbox import bench_vhost

__all__ = ["baseline_app", "run_gateway"]

CONNECTIONS = 32
BATCH_SIZE = 100
BATCH_CONNECTIONS = 16
HOST = "127.0.0.1"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def baseline_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the request body and answers 202 with a small JSON body: HTTP work only."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    body = b'{"event_id":"00000000-0000-7000-8000-000000000000"}'
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{' '.join(command)} did not start")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _single_requests(port: int) -> list[bytes]:
    catalog = default_catalog()
    bodies = [
        msgspec.json.encode({"event_type": str(doc.event_type), "payload": example})
        for doc in catalog.payload_schemas()
        for example in doc.examples
    ]
    return [request_bytes(HOST, port, "/events", body) for body in bodies]


def _batch_requests(port: int) -> list[bytes]:
    catalog = default_catalog()
    items = [
        {"event_type": str(doc.event_type), "payload": example}
        for doc in catalog.payload_schemas()
        for example in doc.examples
    ]
    batch = [items[i % len(items)] for i in range(BATCH_SIZE)]
    return [request_bytes(HOST, port, "/events/batch", msgspec.json.encode(batch))]


def _check(result: LoadResult, expected: int, label: str) -> None:
    unexpected = {status: count for status, count in result.statuses.items() if status != expected}
    if unexpected:
        raise RuntimeError(f"{label}: unexpected answers {unexpected} (expected only {expected})")


@contextmanager
def _private_broker(broker_url: str | None) -> Iterator[str | None]:
    """A virtual host of the run's own on the configured RabbitMQ (None: the embedded broker, in a temporary folder)."""
    if not broker_url:
        yield None
        return
    with bench_vhost(broker_url) as vhost:
        if not vhost.isolated:
            raise SystemExit(
                f"the gateway benchmark needs a virtual host of its own ({vhost.reason}): its events would "
                "otherwise wait in candystore.events and be stored by a real Candystore"
            )
        yield vhost.url


def run_gateway(*, seconds: float, console: Console) -> dict[str, Any]:
    python = sys.executable
    # The gateway declares the shared topology, Candystore's queue included, and that queue
    # receives every event: on RabbitMQ the run gets a virtual host of its own, so that the
    # benchmark's events never reach a real Candystore.
    with TemporaryDirectory() as tmp, _private_broker(BloodbankSettings().broker_url) as broker_url:
        env = {**os.environ, "BLOODBANK_DATA_DIR": str(Path(tmp) / "data")}
        if broker_url:
            env["BLOODBANK_BROKER_URL"] = broker_url
        gateway_port, baseline_port = _free_port(), _free_port()
        gateway = [str(Path(python).parent / "bloodbank"), "serve", "--port", str(gateway_port)]
        baseline = [
            python,
            "-m",
            "uvicorn",
            "stack.bench.gateway:baseline_app",
            "--port",
            str(baseline_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with _server(baseline, baseline_port, env), console.status("baseline: bare ASGI endpoint…"):
            base = asyncio.run(
                run_load(HOST, baseline_port, _single_requests(baseline_port), seconds=seconds, connections=CONNECTIONS)
            )
        _check(base, 202, "baseline")
        with _server(gateway, gateway_port, env):
            with console.status("gateway: single events…"):
                single = asyncio.run(
                    run_load(
                        HOST, gateway_port, _single_requests(gateway_port), seconds=seconds, connections=CONNECTIONS
                    )
                )
            _check(single, 202, "POST /events")
            with console.status("gateway: batches…"):
                batch = asyncio.run(
                    run_load(
                        HOST,
                        gateway_port,
                        _batch_requests(gateway_port),
                        seconds=seconds,
                        connections=BATCH_CONNECTIONS,
                    )
                )
            _check(batch, 200, "POST /events/batch")
    console.print(f"POST /events        {single.rate:>9,.0f} events/s (baseline {base.rate:,.0f} requests/s)")
    console.print(f"POST /events/batch  {batch.rate * BATCH_SIZE:>9,.0f} events/s ({BATCH_SIZE} per request)")
    return {
        "bench": "gateway",
        "unit": "events/s",
        "ours": round(single.rate),
        "baseline": {"name": "bare ASGI endpoint on the same uvicorn (202, no work)", "value": round(base.rate)},
        "ratio": round(single.rate / base.rate, 2),
        "batch_events_per_s": round(batch.rate * BATCH_SIZE),
        "batch_size": BATCH_SIZE,
        "connections": CONNECTIONS,
        "batch_connections": BATCH_CONNECTIONS,
        "broker": "rabbitmq" if BloodbankSettings().broker_url else "embedded",
    }
