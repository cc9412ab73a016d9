"""The gateway's rate limits: two ``bloodbank serve`` processes sharing Redis hold one budget, a batch costs its
events, and a source address that failed to authenticate too often is refused even with a right key.

The shared budget runs two real gateways on one RabbitMQ virtual host and the local Redis; each test's
client has a name of its own (``rl-<uuid>``), so its bucket is a key no other test touches, deleted
afterwards with everything under the test's Redis prefix.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis

from bloodbank import BloodbankSettings
from bloodbank.gateway import create_gateway
from gumdrop.access_control import API_KEY_HEADER, Access
from gumdrop.principals import new_key
from gumdrop.rate_limits import DEFAULT_PREFIX, MemoryRateLimiter
from gumdrop.settings import AccessSettings
from holyfields import default_catalog
from tests.conftest import RedisNamespace

BIN = Path(sys.executable).parent
OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER: dict[str, Any] = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
EVENT = {"event_type": OFFER_TYPE, "payload": OFFER}
RATE = 1.0
"""Tokens per second of the shared bucket (PLATFORM_RATE_PER_SECOND)."""
BURST = 100
"""The shared bucket's size (PLATFORM_RATE_BURST)."""
REQUESTS = 300
IN_FLIGHT = 8
"""Requests in flight on each gateway at once."""


# --- Two gateway processes sharing Redis ---------------------------------------------------


@dataclass(frozen=True)
class Gateways:
    """Two running gateways, and the client that may publish through both."""

    urls: tuple[str, str]
    client: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {API_KEY_HEADER: self.key}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _serve(port: int, environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``bloodbank serve`` on ``port`` until the block ends (SIGTERM, then kill); its output goes to ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "bloodbank"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def gateways(rabbitmq_url: str, redis_namespace: RedisNamespace, tmp_path: Path) -> Iterator[Gateways]:
    """Two gateways on the test's virtual host, sharing the client's rate limits through Redis."""
    client, key = f"rl-{uuid.uuid4()}", new_key()
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("BLOODBANK_", "PLATFORM_"))}
    ports = (_free_port(), _free_port())
    with ExitStack() as stack:
        processes = []
        for number, port in enumerate(ports):
            environment = {
                **inherited,
                "BLOODBANK_BROKER_URL": rabbitmq_url,
                "BLOODBANK_DATA_DIR": str(tmp_path / f"gateway-{number}"),
                "BLOODBANK_API_KEYS": f"{client}:{key}",
                "BLOODBANK_REDIS_URL": redis_namespace.url,
                "BLOODBANK_REDIS_PREFIX": redis_namespace.prefix,  # the bus's and the webhook ids' keys
                "PLATFORM_RATE_PER_SECOND": str(RATE),
                "PLATFORM_RATE_BURST": str(BURST),
                # Failed authentications are counted per address in Redis, shared by every test on this
                # machine: a generous budget keeps another test's failures from locking this one out.
                "PLATFORM_AUTH_FAILURES_PER_MINUTE": "100000",
                "NO_COLOR": "1",
            }
            processes.append(stack.enter_context(_serve(port, environment, tmp_path / f"gateway-{number}.log")))
        urls = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        deadline = time.monotonic() + 60
        for url, process, number in zip(urls, processes, (0, 1), strict=True):
            while not _ready(url):
                log = (tmp_path / f"gateway-{number}.log").read_text(errors="replace")
                assert process.poll() is None, f"gateway {number} exited: {log}"
                assert time.monotonic() < deadline, f"gateway {number} did not become ready: {log}"
                time.sleep(0.2)
        try:
            yield Gateways(urls, client, key)
        finally:
            # The client's buckets live under the limiter's own prefix, not the test's (BLOODBANK_REDIS_PREFIX).
            redis = Redis.from_url(redis_namespace.url)
            try:
                buckets = list(redis.scan_iter(match=f"{DEFAULT_PREFIX}client:{client}:*"))
                if buckets:
                    redis.delete(*buckets)
            finally:
                redis.close()


async def _hammer(gateways: Gateways) -> tuple[list[list[httpx.Response]], float]:
    """REQUESTS single POSTs, half to each gateway, IN_FLIGHT at a time on each; the answers of each, and the time."""

    async def one_gateway(url: str, count: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, headers=gateways.headers, timeout=30) as http:
            slots = asyncio.Semaphore(IN_FLIGHT)

            async def post() -> httpx.Response:
                async with slots:
                    return await http.post("/events", json=EVENT)

            return list(await asyncio.gather(*(post() for _ in range(count))))

    started = time.monotonic()
    answers = await asyncio.gather(*(one_gateway(url, REQUESTS // 2) for url in gateways.urls))
    return answers, time.monotonic() - started


def _refused_as_over_the_rate(answer: httpx.Response, client: str) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["RateLimit-Remaining"] == "0"
    assert answer.headers["RateLimit-Limit"] == str(BURST)
    [error] = answer.json()["errors"]
    assert error["message"].startswith(f"client {client!r} is over its rate for 'publish'"), error


@pytest.mark.rabbitmq
@pytest.mark.redis
async def test_two_gateways_sharing_redis_hold_one_budget(gateways: Gateways) -> None:
    """Hammered through two processes at once, the client gets its burst and the refill, not one budget per process."""
    answers, elapsed = await _hammer(gateways)
    statuses = [{answer.status_code for answer in answered} for answered in answers]
    assert statuses == [{202, 429}, {202, 429}], "each gateway accepts some and refuses the rest"
    accepted = sum(answer.status_code == 202 for answered in answers for answer in answered)
    expected = BURST + RATE * elapsed  # the burst, and what refilled while the test ran
    # One budget per process would accept about twice the burst.
    assert abs(accepted - expected) <= 0.1 * expected, (accepted, expected)
    assert BURST <= accepted <= math.floor(expected), (accepted, expected)
    for answered in answers:
        for answer in answered:
            if answer.status_code == 429:
                _refused_as_over_the_rate(answer, gateways.client)


@pytest.mark.rabbitmq
@pytest.mark.redis
async def test_a_batch_costs_its_events_across_gateways(gateways: Gateways) -> None:
    """A batch takes one token per event from the shared bucket; one larger than what is left is refused whole."""
    first, second = gateways.urls
    async with httpx.AsyncClient(headers=gateways.headers, timeout=30) as http:
        sixty = await http.post(f"{first}/events/batch", json=[EVENT] * 60)
        assert sixty.status_code == 200, sixty.text
        assert {item["status"] for item in sixty.json()["results"]} == {"accepted"}
        # About 40 tokens are left, on the other gateway too.
        fifty = await http.post(f"{second}/events/batch", json=[EVENT] * 50)
        _refused_as_over_the_rate(fifty, gateways.client)
        assert 5 <= int(fifty.headers["Retry-After"]) <= 11, "the ten or so tokens missing, at one a second"
        thirty = await http.post(f"{second}/events/batch", json=[EVENT] * 30)
        assert thirty.status_code == 200, thirty.text
        assert len(thirty.json()["results"]) == 30
        # About 10 are left: 20 more events are too many, a single one is not.
        twenty = await http.post(f"{first}/events/batch", json=[EVENT] * 20)
        _refused_as_over_the_rate(twenty, gateways.client)
        single = await http.post(f"{first}/events", json=EVENT)
        assert single.status_code == 202, single.text


# --- Failed authentications, in one process ------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


FAILURES_PER_MINUTE = 3
RIGHT_KEY = f"right-{uuid.uuid4().hex}"


@pytest.fixture
def locked_gateway(tmp_path: Path) -> Iterator[tuple[TestClient, Clock]]:
    """A started gateway on the embedded broker allowing FAILURES_PER_MINUTE failed authentications per address,
    its buckets on a clock the test moves."""
    access = Access.from_settings(
        AccessSettings(
            api_keys=[f"ops:{RIGHT_KEY}"],
            keys_file=None,
            redis_url=None,
            auth_failures_per_minute=FAILURES_PER_MINUTE,
        )
    )
    clock = Clock()
    access.limiter = MemoryRateLimiter(clock=clock)
    settings = BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0)
    with TestClient(create_gateway(settings, access=access), base_url="http://localhost") as client:
        yield client, clock


def _post(client: TestClient, key: str) -> Any:
    return client.post("/events", json=EVENT, headers={API_KEY_HEADER: key})


def test_after_too_many_bad_keys_an_address_is_refused_even_with_the_right_key(
    locked_gateway: tuple[TestClient, Clock],
) -> None:
    """FAILURES_PER_MINUTE bad keys from one address lock it out, right key included, until a failure refilled."""
    client, clock = locked_gateway
    assert _post(client, RIGHT_KEY).status_code == 202
    for _ in range(FAILURES_PER_MINUTE):
        refused = _post(client, "a-wrong-key")
        assert refused.status_code == 401, refused.text
    locked = _post(client, RIGHT_KEY)
    assert locked.status_code == 429, locked.text
    seconds_per_failure = 60 // FAILURES_PER_MINUTE
    assert locked.json()["errors"] == [
        {
            "path": None,
            "message": f"too many failed authentications from testclient; retry after {seconds_per_failure} s",
        }
    ]
    assert locked.headers["Retry-After"] == str(seconds_per_failure)
    assert locked.headers["RateLimit-Limit"] == str(FAILURES_PER_MINUTE)
    assert locked.headers["RateLimit-Remaining"] == "0"
    assert _post(client, "a-wrong-key").status_code == 429, "a locked-out address is not even checked"
    clock.now += seconds_per_failure - 1
    assert _post(client, RIGHT_KEY).status_code == 429, "still locked a second before the failure refilled"
    clock.now += 1
    assert _post(client, RIGHT_KEY).status_code == 202
    assert _post(client, "a-wrong-key").status_code == 401
    assert _post(client, RIGHT_KEY).status_code == 429, "the refilled failure was spent again"


def test_the_lockout_is_per_address(locked_gateway: tuple[TestClient, Clock]) -> None:
    """An address locked out after its failures does not lock out another address with the right key."""
    client, _ = locked_gateway
    for _ in range(FAILURES_PER_MINUTE):
        assert _post(client, "a-wrong-key").status_code == 401
    assert _post(client, RIGHT_KEY).status_code == 429
    # Another TestClient on the same app, from another address (the app's lifespan already runs).
    other = TestClient(client.app, base_url="http://localhost", client=("192.0.2.7", 50000))
    answer = other.get("/schemas", headers={API_KEY_HEADER: RIGHT_KEY})
    assert answer.status_code == 200, answer.text


def test_a_request_without_a_key_is_not_a_failed_authentication(locked_gateway: tuple[TestClient, Clock]) -> None:
    """Requests that offer no key are answered 401 but do not count towards the address's lockout."""
    client, _ = locked_gateway
    for _ in range(FAILURES_PER_MINUTE * 3):
        assert client.post("/events", json=EVENT).status_code == 401
    assert _post(client, RIGHT_KEY).status_code == 202
