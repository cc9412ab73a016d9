"""The platform running for the browser tests: one bus, the gateway, Candystore and Candybar on free ports.

Everything runs in one event loop on a thread of its own (Playwright's sync API owns the
test's thread). The gateway and Candystore answer the UI's origin with CORS headers, as a
deployment that serves the UI on another port must configure them (the live stream
checks the page's origin against them). With ``visibility`` the visibility layer runs on
the same bus too (its API allows the UI's origin itself); without it nothing answers at
its address, as when the layer is not deployed. With ``api_key`` every API, Candybar's
``/config.json`` included, requires that client's key, as ``BLOODBANK_API_KEYS`` makes them;
``keys_file`` adds the clients of a ``PLATFORM_KEYS_FILE`` (other scopes, other rates).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from bloodbank import BloodbankSettings, Bus, Event, PermanentFailure
from bloodbank.gateway import create_gateway
from candybar import CandybarSettings, create_app
from candystore import CandystoreSettings
from candystore.service import CandystoreService
from gumdrop.access_control import Access
from gumdrop.settings import AccessSettings
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

T = TypeVar("T")

POISON_CONSUMER = "candybar.poison"
POISON_TYPE = "n8n.workflow.started.v1"
POISON_MARK = "poison"
START_TIMEOUT = 60.0


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class Poison:
    """The test's own consumer: it rejects marked events at once (straight to the DLQ) while ``failing``."""

    failing: bool = True
    handled: list[str] = field(default_factory=list)

    async def handle(self, event: Event) -> None:
        if self.failing and POISON_MARK in str(event.document["payload"].get("workflow_name", "")):
            raise PermanentFailure("poisoned workflow: refusing it on purpose")
        self.handled.append(str(event.document["event_id"]))


@dataclass(frozen=True)
class ApiKey:
    """A client's key, as ``BLOODBANK_API_KEYS=client:key`` gives it (every scope)."""

    client: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class RunningPlatform:
    gateway_url: str
    candystore_url: str
    candybar_url: str
    visibility_url: str
    poison: Poison
    loop: asyncio.AbstractEventLoop
    api_key: ApiKey | None = None

    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """What a caller sends to be let in: the key when the platform requires one."""
        return self.api_key.headers if self.api_key is not None else {}

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the platform's loop and return its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(timeout)

    def serve_ui(self, settings: CandybarSettings) -> str:
        """Serve another Candybar (other settings) until the platform stops; returns its URL."""
        sock = _listening_socket()
        self.servers.append(self.run(_serve(create_app(settings), sock)))
        return _url(sock)


def _with_cors(app: ASGIApp, origin: str) -> ASGIApp:
    return CORSMiddleware(app, allow_origins=[origin], allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"])


async def _serve(app: ASGIApp, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task


def _visibility_settings(data_dir: Path, ui_origin: str) -> VisibilitySettings:
    return VisibilitySettings(
        # Its own SQLite file, named outright: unset, it would follow CANDYSTORE_DATABASE_URL.
        database_url=f"sqlite+aiosqlite:///{data_dir / 'visibility.sqlite3'}",
        data_dir=data_dir,
        cors_origins=[ui_origin],
        batch_wait=0.01,
        publish_interval=0.5,
    )


@dataclass(frozen=True)
class _Keys:
    api_key: ApiKey | None
    keys_file: Path | None
    ui_origin: str

    def access(self) -> Access | None:
        """A service's own access (its own rate limits); None without keys: it reads ``PLATFORM_*``, unset here."""
        if self.api_key is None and self.keys_file is None:
            return None
        pairs = f"{self.api_key.client}:{self.api_key.key}" if self.api_key is not None else ""
        # Rate limits kept in the process, whatever BLOODBANK_REDIS_URL says: each run starts with full buckets.
        settings = AccessSettings(api_keys=pairs, keys_file=self.keys_file, redis_url=None)
        return Access.from_settings(settings, origins=[self.ui_origin])


@contextlib.contextmanager
def running_platform(
    data_dir: Path, *, visibility: bool = False, api_key: ApiKey | None = None, keys_file: Path | None = None
) -> Iterator[RunningPlatform]:
    """Start everything (the visibility layer too when asked, every API behind keys when given);
    stop it all in order when the block ends."""
    sockets = {name: _listening_socket() for name in ("gateway", "candystore", "candybar", "visibility")}
    urls = {name: _url(sock) for name, sock in sockets.items()}
    keys = _Keys(api_key, keys_file, ui_origin=urls["candybar"])
    if not visibility:
        sockets.pop("visibility").close()  # nothing serves it: the UI shows the visibility layer as not running
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="platform", daemon=True)
    thread.start()
    poison = Poison()
    stoppers: list[Callable[[], Awaitable[None]]] = []

    async def start() -> None:
        bus = await Bus.start(BloodbankSettings(data_dir=data_dir / "bus", cors_origins=[keys.ui_origin]))
        stoppers.append(bus.close)
        await bus.subscribe(POISON_CONSUMER, [POISON_TYPE], poison.handle)
        service = CandystoreService(
            CandystoreSettings(data_dir=data_dir / "store", batch_wait=0.01, cors_origins=[keys.ui_origin]),
            bus,
            access=keys.access(),
        )
        await service.start()
        stoppers.append(service.stop)
        apps: list[tuple[ASGIApp, str]] = []
        if visibility:
            (data_dir / "visibility").mkdir(exist_ok=True)
            layer = VisibilityService(
                _visibility_settings(data_dir / "visibility", keys.ui_origin), bus, access=keys.access()
            )
            await layer.start()
            stoppers.append(layer.stop)
            apps.append((layer.api, "visibility"))
        ui = create_app(
            CandybarSettings(
                gateway_url=urls["gateway"], candystore_url=urls["candystore"], visibility_url=urls["visibility"]
            ),
            access=keys.access(),
        )
        apps += [
            (
                _with_cors(create_gateway(bus.settings, bus=bus, access=keys.access()), keys.ui_origin),
                "gateway",
            ),
            (_with_cors(service.api, keys.ui_origin), "candystore"),
            (ui, "candybar"),
        ]
        for app, name in apps:
            server, task = await _serve(app, sockets[name])

            async def stop_server(server: uvicorn.Server = server, task: asyncio.Task[None] = task) -> None:
                server.should_exit = True
                await task

            stoppers.append(stop_server)

    async def stop() -> None:
        for server, task in platform.servers:
            server.should_exit = True
            await task
        for stopper in reversed(stoppers):
            await stopper()

    platform = RunningPlatform(
        urls["gateway"], urls["candystore"], urls["candybar"], urls["visibility"], poison, loop, api_key
    )
    try:
        platform.run(start(), timeout=START_TIMEOUT)
        yield platform
    finally:
        try:
            platform.run(stop(), timeout=START_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            for sock in sockets.values():
                sock.close()
