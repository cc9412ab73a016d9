"""Every HTTP boundary of the platform answers bad input with a clear 4xx, and none of them stalls the others.

The four apps run in one event loop, as ``33god up`` runs them (``serve_apps``, the embedded
broker, SQLite in a temporary directory), with short client deadlines. Each hostile request
goes to one service while another thread probes ``GET /health/live`` of the other three, over
and over, before, during and after it: every probe must answer within 100 ms (a slow one is
probed again at once: a stalled loop fails both, a hiccup of the test's own thread does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest

from bloodbank import BloodbankSettings, Bus
from bloodbank.gateway import create_gateway
from candybar import CandybarSettings
from candybar import create_app as create_ui
from candystore import CandystoreSettings
from candystore.service import CandystoreService
from gumdrop.serving import Deadlines, Listener, serve_apps
from tests.slow_clients import closed_within, trickle
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

DEADLINES = Deadlines(headers=0.5, body=0.5, keep_alive=5)
MARGIN = 2.0
"""Seconds past a deadline within which the server must have closed the connection."""
PROBE_LIMIT = 0.1
"""Seconds a health probe of another service may take while a hostile request runs (issue 12)."""
PROBES_AFTER = 5
"""Probe rounds after the hostile request is answered: a stall right after answering counts too."""
TWO_MIB = 2 * 1024 * 1024

BODY_ROUTES = {
    "gateway": "/events",
    "candystore": "/dlq/replay",
    "visibility": f"/conflicts/{uuid.uuid4()}/actions",
    "candybar": "/",
}
"""Where each service takes a JSON body (the UI server takes none: a GET with a body is refused there)."""
JSON_SERVICES = ("gateway", "candystore", "visibility")
JSON = {"content-type": "application/json"}


@dataclass
class Platform:
    """The four apps served from one event loop in a thread of their own."""

    urls: dict[str, str] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None

    def port(self, service: str) -> int:
        return int(self.urls[service].rsplit(":", 1)[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _run(platform: Platform, data_dir: Path, started: threading.Event) -> None:
    ports = {name: _free_port() for name in BODY_ROUTES}
    platform.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    async with contextlib.AsyncExitStack() as running:
        bus = await Bus.start(BloodbankSettings(broker_url=None, data_dir=data_dir / "bus"))
        running.push_async_callback(bus.close)
        store = CandystoreService(CandystoreSettings(database_url=None, data_dir=data_dir / "store"), bus)
        await store.start()
        running.push_async_callback(store.stop)
        (data_dir / "visibility").mkdir()
        visibility = VisibilitySettings(
            database_url=f"sqlite+aiosqlite:///{data_dir / 'visibility' / 'visibility.sqlite3'}",
            data_dir=data_dir / "visibility",
        )
        detector = VisibilityService(visibility, bus)
        await detector.start()
        running.push_async_callback(detector.stop)
        ui = CandybarSettings(
            gateway_url=platform.urls["gateway"],
            candystore_url=platform.urls["candystore"],
            visibility_url=platform.urls["visibility"],
        )
        apps = {
            "gateway": create_gateway(bus.settings, bus=bus),
            "candystore": store.api,
            "visibility": detector.api,
            "candybar": create_ui(ui),
        }
        platform.loop, platform.stop = asyncio.get_running_loop(), asyncio.Event()
        listeners = [Listener(apps[name], "127.0.0.1", port, name) for name, port in ports.items()]
        serving = asyncio.create_task(serve_apps(listeners, stop=platform.stop, deadlines=DEADLINES))
        started.set()
        await serving


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform, once for this module."""
    platform = Platform()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_run(platform, tmp_path_factory.mktemp("platform"), started))
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="platform", daemon=True)
    thread.start()
    assert started.wait(60), "the platform did not start within 60 s"
    assert not failure, failure
    with httpx.Client(timeout=1) as client:
        for url in platform.urls.values():
            _wait_until_live(client, url)
    try:
        yield platform
    finally:
        assert platform.loop is not None
        assert platform.stop is not None
        platform.loop.call_soon_threadsafe(platform.stop.set)
        thread.join(timeout=60)
    assert not failure, failure


def _wait_until_live(client: httpx.Client, url: str) -> None:
    for _ in range(200):
        with contextlib.suppress(httpx.TransportError):
            if client.get(f"{url}/health/live").status_code == 200:
                return
        time.sleep(0.05)
    pytest.fail(f"{url} never answered")


@contextlib.contextmanager
def probing(platform: Platform, *, besides: str) -> Iterator[None]:
    """While inside (and for a few rounds after), probe the other services; each probe must answer within 100 ms."""
    others = [url for name, url in platform.urls.items() if name != besides]
    taken: list[tuple[str, int, float]] = []
    first = threading.Event()
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=5) as client:
            rounds_after = 0
            while rounds_after < PROBES_AFTER:
                rounds_after += done.is_set()
                taken.extend(_probed(client, url) for url in others)
                first.set()

    thread = threading.Thread(target=probe, name="probe")
    thread.start()
    assert first.wait(5), "the other services did not answer a first probe"
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=30)
    assert all(status == 200 for _, status, _ in taken), taken
    slowest = max(taken, key=lambda probe: probe[2])
    assert slowest[2] < PROBE_LIMIT, f"{slowest[0]}/health/live took {slowest[2] * 1000:.0f} ms"


def _probed(client: httpx.Client, url: str) -> tuple[str, int, float]:
    """One probe's status and time; a slow one is probed again at once and the faster of the two kept.

    The probes share the test process's interpreter with the platform, so one of them can wait
    on the interpreter lock or a garbage collection; a stalled event loop makes both slow.
    """
    probes: list[tuple[str, int, float]] = []
    while not probes or (len(probes) == 1 and probes[0][2] >= PROBE_LIMIT):
        started = time.perf_counter()
        status = client.get(f"{url}/health/live").status_code
        probes.append((url, status, time.perf_counter() - started))
    return min(probes, key=lambda probe: probe[2])


def _errors(response: httpx.Response) -> list[tuple[str | None, str]]:
    return [(item["path"], item["message"]) for item in response.json()["errors"]]


async def _post(platform: Platform, service: str, **request: object) -> httpx.Response:
    """A request with a body to ``service``: POST to its JSON route, or a GET with a body to the UI server."""
    method = "GET" if service == "candybar" else "POST"
    async with httpx.AsyncClient(base_url=platform.urls[service], timeout=30) as client:
        return await client.request(method, BODY_ROUTES[service], **request)  # type: ignore[arg-type]


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``total`` bytes of a JSON string, sent chunked (no Content-Length)."""
    yield b'"'
    for _ in range(0, total, size):
        yield b"x" * size
    yield b'"'


def _case(
    platform: Platform, service: str, request: Callable[[], Coroutine[None, None, httpx.Response]]
) -> httpx.Response:
    with probing(platform, besides=service):
        return asyncio.run(request())


# --- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_nesting_past_the_limit_is_a_422(platform: Platform, service: str) -> None:
    """10,000 nested arrays are 422 at `$`, saying the depth limit, with no stall and no 500."""
    body = b"[" * 10_000 + b"]" * 10_000
    response = _case(platform, service, lambda: _post(platform, service, content=body, headers=JSON))
    assert response.status_code == 422, response.text
    assert _errors(response) == [("$", "nested deeper than 64 objects and arrays: flatten the document")]


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_a_duplicate_key_is_a_422_naming_it(platform: Platform, service: str) -> None:
    """A key given twice is 422 at its JSON path, never "last one wins"."""
    body = b'{"event_type": "retail.offer.surfaced.v1", "payload": {"price": 1, "price": 2}}'
    response = _case(platform, service, lambda: _post(platform, service, content=body, headers=JSON))
    assert response.status_code == 422, response.text
    assert _errors(response) == [("$.payload.price", "duplicate key 'price': a key may appear once per object")]


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_a_cross_site_text_plain_post_is_a_415(platform: Platform, service: str) -> None:
    """The body of an HTML form posted from another site (text/plain) is refused as not JSON."""
    body = b'{"event_type": "retail.offer.surfaced.v1", "payload": {}}'
    headers = {"content-type": "text/plain", "origin": "https://elsewhere.example"}
    response = _case(platform, service, lambda: _post(platform, service, content=body, headers=headers))
    assert response.status_code == 415, response.text
    assert _errors(response)[0][0] == "header.Content-Type"


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_a_body_without_content_type_is_a_415(platform: Platform, service: str) -> None:
    """A body with no Content-Type at all is refused as not JSON."""
    response = _case(platform, service, lambda: _post(platform, service, content=b"{}"))
    assert response.status_code == 415, response.text
    ((path, message),) = _errors(response)
    assert path == "header.Content-Type"
    assert message.startswith("the body has no Content-Type: send JSON as application/json")


@pytest.mark.parametrize("service", BODY_ROUTES)
def test_a_2_mib_body_with_content_length_is_a_413(platform: Platform, service: str) -> None:
    """A body announced larger than the service's cap is 413 before it is read."""
    body = b'"' + b"x" * TWO_MIB + b'"'
    response = _case(platform, service, lambda: _post(platform, service, content=body, headers=JSON))
    assert response.status_code == 413, response.text
    assert _errors(response)[0][0] is None


@pytest.mark.parametrize("service", BODY_ROUTES)
def test_a_2_mib_chunked_body_is_a_413(platform: Platform, service: str) -> None:
    """A body streamed without Content-Length is 413 as soon as it passes the cap."""
    response = _case(platform, service, lambda: _post(platform, service, content=_chunks(TWO_MIB), headers=JSON))
    assert response.status_code == 413, response.text


def test_each_service_names_its_body_setting(platform: Platform) -> None:
    """The 413 says which setting raises the cap of the service that refused the body."""
    settings = {
        "gateway": "BLOODBANK_MAX_BODY_BYTES",
        "candystore": "CANDYSTORE_MAX_BODY_BYTES",
        "visibility": "VISIBILITY_MAX_BODY_BYTES",
    }
    for service, setting in settings.items():
        response = asyncio.run(_post(platform, service, content=b" " * (TWO_MIB // 2 + 1), headers=JSON))
        assert response.status_code == 413
        assert _errors(response)[0][1].startswith(f"the body is larger than 1048576 bytes ({setting}): ")
    ui = asyncio.run(_post(platform, "candybar", content=b"{}", headers=JSON))
    assert ui.status_code == 413
    assert _errors(ui) == [(None, "the UI server takes no request body: send GET and HEAD without one")]


# --- slow clients -------------------------------------------------------------------------


async def _trickling_headers(platform: Platform, service: str) -> bytes:
    port = platform.port(service)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {BODY_ROUTES[service]} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-slow: {'a' * 200}\r\n"
    trickling = asyncio.create_task(trickle(writer, head.encode()))
    try:
        return await closed_within(reader, DEADLINES.headers + MARGIN)
    finally:
        await trickling
        writer.close()


async def _trickling_body(platform: Platform, service: str) -> bytes:
    port = platform.port(service)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {BODY_ROUTES[service]} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
    writer.write(f"{head}content-length: 100\r\n\r\n".encode())
    trickling = asyncio.create_task(trickle(writer, b"[" + b" " * 98 + b"]"))
    try:
        return await closed_within(reader, DEADLINES.body + MARGIN)
    finally:
        await trickling
        writer.close()


@pytest.mark.parametrize("service", BODY_ROUTES)
def test_thirty_clients_trickling_their_headers_are_disconnected(platform: Platform, service: str) -> None:
    """30 connections sending their headers a byte at a time are all closed past the header deadline."""

    async def thirty() -> list[bytes]:
        return await asyncio.gather(*(_trickling_headers(platform, service) for _ in range(30)))

    with probing(platform, besides=service):
        answers = asyncio.run(thirty())
    assert answers == [b""] * 30


@pytest.mark.parametrize("service", JSON_SERVICES)
def test_a_trickling_body_is_answered_408_and_disconnected(platform: Platform, service: str) -> None:
    """A body arriving a byte at a time is answered 408 in the error shape past the body deadline, then closed."""
    with probing(platform, besides=service):
        answer = asyncio.run(_trickling_body(platform, service))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(body)["errors"][0]["path"] is None
