"""``33god bench gateway``: single POSTs and batches through the gateway, plain and secured, against a bare endpoint.

The gateway runs as its own process (as ``bloodbank serve`` runs it), on the broker the
settings point at (embedded when ``BLOODBANK_BROKER_URL`` is unset), and answers each
event only after the broker's confirm. The baseline is the same uvicorn serving an ASGI
app that reads the body and answers 202 without doing anything: the HTTP stack's own
ceiling on this machine, measured in the same run.

A second gateway process runs beside the first, secured: one client with an API key from a
keys file, every request signed (Standard Webhooks; the client ``require_signature``), every
bus message signed (``BLOODBANK_SIGNING_KEYS``), and the client's token bucket taken from on
every request, at a rate far above the benchmark's so that none is refused (a 401 or 429
fails the run). The client's requests are signed before each measured phase. Plain and
secured alternate for ten rounds of a third of ``--seconds`` each, the first of each pair swapped every
round. The figures are each side's best round; ``secured_ratio`` and ``secured_batch_ratio`` are
the median over the rounds of secured ÷ plain, each round's two phases back to back, because on a
shared machine a rate moves by a quarter from one phase to the next and a best-of ratio measures
whichever side was lucky: what those checks cost.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

import httpx2 as httpx
import msgspec
from rich.console import Console
from rich.status import Status

from bloodbank import BloodbankSettings
from gumdrop.access_control import API_KEY_HEADER
from holyfields import default_catalog
from stack.bench.http_load import LoadResult, request_bytes
from stack.bench.request_stream import run_stream
from stack.bench.sandbox import bench_vhost
from stack.bench.secured_client import ACCESS_SETTINGS, SecuredClient, SignedRequests

__all__ = ["baseline_app", "run_gateway"]

CONNECTIONS = 32
BATCH_SIZE = 100
BATCH_CONNECTIONS = 16
HOST = "127.0.0.1"
ROUNDS = 10
"""Plain and secured alternate this many times per load, each phase a third of ``--seconds``: more pairs of
short phases give the median ratio more to stand on than a few long ones."""
PHASE_SHARE = 1 / 3
SETTLE_SECONDS = 0.5
"""Idle time before each phase: the previous burst's clean-up (a WAL checkpoint, a GC) is not the next one's cost."""
SIGNED_MARGIN = 3
"""Requests signed before a secured phase: this many times what the plain gateway answered in as long."""

_REFUSALS = frozenset((401, 429))
"""A signature or a rate refused: the secured side must never see them."""

Side = Literal["plain", "secured"]
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


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (each socket held until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _pin_server(pid: int) -> None:
    """Every server on the same processor and the load on the others, where the machine has more than one.

    On a virtual machine the processors need not be equally fast (a neighbour takes time from
    one): two gateways on different ones would compare the processors, not the gateways.
    """
    if not hasattr(os, "sched_setaffinity"):
        return
    processors = sorted(os.sched_getaffinity(0))
    if len(processors) < 2:  # noqa: PLR2004 - one for the servers, the rest for the load
        return
    os.sched_setaffinity(pid, {processors[-1]})
    os.sched_setaffinity(0, set(processors[:-1]))


@contextmanager
def _server(command: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[int]:
    """Run ``command`` until the block ends, once it listens on ``port``; its output goes to ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    _pin_server(process.pid)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                said = log.read_text(errors="replace").strip()[-2000:]
                raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}: {said}")
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{' '.join(command)} did not start")
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass(frozen=True)
class _Load:
    """One kind of request: its path, its bodies, over how many connections, and the status of a success."""

    label: str
    path: str
    bodies: list[bytes]
    connections: int
    status: int


def _catalog_items() -> list[dict[str, Any]]:
    catalog = default_catalog()
    return [
        {"event_type": str(doc.event_type), "payload": example}
        for doc in catalog.payload_schemas()
        for example in doc.examples
    ]


def _loads() -> tuple[_Load, _Load]:
    """Single events (every example of the catalog in turn), and batches of BATCH_SIZE of them."""
    items = _catalog_items()
    single = _Load("POST /events", "/events", [msgspec.json.encode(item) for item in items], CONNECTIONS, 202)
    batch_body = msgspec.json.encode([items[i % len(items)] for i in range(BATCH_SIZE)])
    return single, _Load("POST /events/batch", "/events/batch", [batch_body], BATCH_CONNECTIONS, 200)


def _cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process ``pid`` has used so far; None where there is no /proc to read it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, in clock ticks


def _check(result: LoadResult, expected: int, label: str) -> None:
    unexpected = {status: count for status, count in result.statuses.items() if status != expected}
    if unexpected:
        hint = ""
        if unexpected.keys() & _REFUSALS:
            hint = (
                ": the secured run measures the cost of the checks, so none may refuse (401: a signature, 429: a rate)"
            )
        raise RuntimeError(f"{label}: unexpected answers {unexpected} (expected only {expected}){hint}")
    if not result.requests:
        raise RuntimeError(f"{label}: no request was answered in {result.seconds:.1f} s")


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


@dataclass
class _Rounds:
    """Per side and load, each round's rate (requests per second) and the gateway's CPU time per request.

    The rates say what a client gets; the ratios compare the two sides round by round, each
    round's phases back to back, so that what the machine does meanwhile (a rate here moves by
    a quarter from one phase to the next) weighs on both: their median is what the checks cost.
    """

    rates: dict[tuple[Side, str], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[Side, str], list[float]] = field(default_factory=dict)
    late_signed: int = 0

    def keep(self, side: Side, load: _Load, rate: float, cpu: float | None) -> None:
        self.rates.setdefault((side, load.path), []).append(rate)
        if cpu is not None:
            self.cpu.setdefault((side, load.path), []).append(cpu)

    def best(self, side: Side, load: _Load) -> float:
        return max(self.rates.get((side, load.path), [0.0]))

    def least_cpu(self, side: Side, load: _Load) -> float | None:
        return min(self.cpu.get((side, load.path), ()), default=None)

    def rate_ratio(self, load: _Load) -> float:
        """The median over the rounds of secured ÷ plain."""
        pairs = zip(self.rates[("secured", load.path)], self.rates[("plain", load.path)], strict=True)
        return statistics.median(secured / plain for secured, plain in pairs)

    def cpu_ratio(self, load: _Load) -> float | None:
        """The median over the rounds of plain ÷ secured CPU per request (the share of the plain cost left)."""
        secured, plain = self.cpu.get(("secured", load.path)), self.cpu.get(("plain", load.path))
        if not secured or not plain or len(secured) != len(plain):
            return None
        return statistics.median(p / s for p, s in zip(plain, secured, strict=True))


@dataclass(frozen=True)
class _Gateways:
    """The two gateway processes (port and process id of each) and the client of the secured one."""

    ports: dict[Side, int]
    pids: dict[Side, int]
    client: SecuredClient

    def requests(self, side: Side, load: _Load, count: int) -> Iterator[bytes]:
        """The requests of one phase: the same bodies in turn, signed (``count`` beforehand) on the secured side."""
        port = self.ports[side]
        if side == "plain":
            return cycle([request_bytes(HOST, port, load.path, body) for body in load.bodies])
        return SignedRequests(self.client, HOST, port, load.path, load.bodies, count)

    def check_refuses_unsigned(self, load: _Load) -> None:
        """The secured gateway answers 401 to a request with the client's key but no signature: it is secured."""
        answer = httpx.post(
            f"http://{HOST}:{self.ports['secured']}{load.path}",
            content=load.bodies[0],
            headers={"content-type": "application/json", API_KEY_HEADER: self.client.key},
            timeout=10,
        )
        if answer.status_code != 401:  # noqa: PLR2004 - the status asked for
            raise RuntimeError(
                f"the secured gateway answered {answer.status_code} to an unsigned request instead of 401: "
                "its keys file was not read, and the run would not measure the checks"
            )


def _phase(gateways: _Gateways, side: Side, load: _Load, *, seconds: float, rounds: _Rounds) -> None:
    """Measure one side with one load; keep its rate and the gateway's CPU time per request."""
    plain_rate = rounds.best("plain", load) or 100.0  # the plain side runs first in the first round
    requests = gateways.requests(side, load, math.ceil(plain_rate * seconds * SIGNED_MARGIN))
    pid = gateways.pids[side]
    cpu_before = _cpu_seconds(pid)
    result = asyncio.run(
        run_stream(HOST, gateways.ports[side], requests, seconds=seconds, connections=load.connections)
    )
    cpu_after = _cpu_seconds(pid)
    _check(result, load.status, f"{load.label} ({side})")
    if isinstance(requests, SignedRequests):
        rounds.late_signed += requests.late
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / result.requests
    rounds.keep(side, load, result.rate, cpu)


def _rounds(gateways: _Gateways, loads: tuple[_Load, ...], *, seconds: float, status: Status) -> _Rounds:
    rounds = _Rounds()
    for number in range(ROUNDS):
        order: tuple[Side, Side] = ("plain", "secured") if number % 2 == 0 else ("secured", "plain")
        for load in loads:
            for side in order:
                status.update(f"round {number + 1}/{ROUNDS}: {load.label}, {side} gateway…")
                time.sleep(SETTLE_SECONDS)
                _phase(gateways, side, load, seconds=seconds * PHASE_SHARE, rounds=rounds)
    return rounds


def run_gateway(*, seconds: float, console: Console) -> dict[str, Any]:
    python = sys.executable
    settings = BloodbankSettings()
    loads = _loads()
    single = loads[0]
    # The gateway declares the shared topology, Candystore's queue included, and that queue
    # receives every event: on RabbitMQ the run gets a virtual host of its own, so that the
    # benchmark's events never reach a real Candystore.
    with TemporaryDirectory() as tmp, _private_broker(settings.broker_url) as broker_url:
        folder = Path(tmp)
        env = {key: value for key, value in os.environ.items() if key not in ACCESS_SETTINGS}
        env["BLOODBANK_DATA_DIR"] = str(folder / "data")
        if broker_url:
            env["BLOODBANK_BROKER_URL"] = broker_url
        client = SecuredClient()
        secured_env = {**env, "BLOODBANK_DATA_DIR": str(folder / "secured-data"), **client.settings(folder)}
        gateway_port, secured_port, baseline_port = _free_ports(3)
        bloodbank = str(Path(python).parent / "bloodbank")
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
        with (
            _server(baseline, baseline_port, env, folder / "baseline.log"),
            console.status("baseline: bare ASGI endpoint…"),
        ):
            requests = cycle([request_bytes(HOST, baseline_port, "/events", body) for body in single.bodies])
            base = asyncio.run(run_stream(HOST, baseline_port, requests, seconds=seconds, connections=CONNECTIONS))
        _check(base, 202, "baseline")
        with (
            _server(
                [bloodbank, "serve", "--port", str(gateway_port)], gateway_port, env, folder / "plain.log"
            ) as plain,
            _server(
                [bloodbank, "serve", "--port", str(secured_port)], secured_port, secured_env, folder / "secured.log"
            ) as secured,
            console.status("gateways: plain and secured…") as status,
        ):
            ports: dict[Side, int] = {"plain": gateway_port, "secured": secured_port}
            gateways = _Gateways(ports, {"plain": plain, "secured": secured}, client)
            gateways.check_refuses_unsigned(single)
            rounds = _rounds(gateways, loads, seconds=seconds, status=status)
    figures = _figures(rounds, loads, base, settings)
    _report(console, figures, rounds)
    return figures


def _figures(
    rounds: _Rounds, loads: tuple[_Load, _Load], base: LoadResult, settings: BloodbankSettings
) -> dict[str, Any]:
    single, batch = loads
    plain = rounds.best("plain", single)
    return {
        "bench": "gateway",
        "unit": "events/s",
        "ours": round(plain),
        "baseline": {"name": "bare ASGI endpoint on the same uvicorn (202, no work)", "value": round(base.rate)},
        "ratio": round(plain / base.rate, 2),
        "batch_events_per_s": round(rounds.best("plain", batch) * BATCH_SIZE),
        "secured": round(rounds.best("secured", single)),
        "secured_ratio": round(rounds.rate_ratio(single), 2),
        "secured_batch_events_per_s": round(rounds.best("secured", batch) * BATCH_SIZE),
        "secured_batch_ratio": round(rounds.rate_ratio(batch), 2),
        **_cpu_figures(rounds, loads),
        "secured_rate_limits": "redis" if settings.redis_url else "memory",
        "batch_size": BATCH_SIZE,
        "connections": CONNECTIONS,
        "batch_connections": BATCH_CONNECTIONS,
        "rounds": ROUNDS,
        "broker": "rabbitmq" if settings.broker_url else "embedded",
    }


def _cpu_figures(rounds: _Rounds, loads: tuple[_Load, _Load]) -> dict[str, Any]:
    """The gateways' least CPU time per event, and the median plain ÷ secured of the rounds; none without /proc."""
    single, batch = loads
    cpu = (
        rounds.least_cpu("plain", single),
        rounds.least_cpu("secured", single),
        rounds.least_cpu("plain", batch),
        rounds.least_cpu("secured", batch),
    )
    single_ratio, batch_ratio = rounds.cpu_ratio(single), rounds.cpu_ratio(batch)
    if None in cpu or single_ratio is None or batch_ratio is None:
        return {}
    plain, secured, plain_batch, secured_batch = (value * 1e6 for value in cpu if value is not None)
    return {
        "secured_cpu_ratio": round(single_ratio, 2),
        "secured_batch_cpu_ratio": round(batch_ratio, 2),
        "cpu_us_per_event": {
            "plain": round(plain, 1),
            "secured": round(secured, 1),
            "plain_batch": round(plain_batch / BATCH_SIZE, 1),
            "secured_batch": round(secured_batch / BATCH_SIZE, 1),
        },
    }


def _report(console: Console, figures: dict[str, Any], rounds: _Rounds) -> None:
    console.print(
        f"POST /events        {figures['ours']:>9,} events/s (baseline {figures['baseline']['value']:,} requests/s)"
    )
    console.print(f"POST /events/batch  {figures['batch_events_per_s']:>9,} events/s ({BATCH_SIZE} per request)")
    console.print(
        f"secured             {figures['secured']:>9,} events/s (secured ÷ plain {figures['secured_ratio']}); "
        f"batches {figures['secured_batch_events_per_s']:,} events/s ({figures['secured_batch_ratio']}): "
        f"keys, signed requests and messages, {figures['secured_rate_limits']} rate limits"
    )
    if "secured_cpu_ratio" in figures:
        cpu = figures["cpu_us_per_event"]
        console.print(
            f"gateway CPU per event: POST {cpu['plain']:,} µs plain, {cpu['secured']:,} secured "
            f"(plain ÷ secured {figures['secured_cpu_ratio']}); batches {cpu['plain_batch']:,} and "
            f"{cpu['secured_batch']:,} µs ({figures['secured_batch_cpu_ratio']})"
        )
    if rounds.late_signed:
        console.print(
            f"[yellow]{rounds.late_signed:,} secured requests were signed while measured (more than prepared): "
            "the secured figures include their signing[/yellow]"
        )
