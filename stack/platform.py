"""The whole platform in one process: one bus, the gateway, Candystore, the Candybar UI, and demo traffic.

Every component keeps its own port, as when each runs alone. Shutdown runs in the
order that keeps every accepted event: the HTTP servers stop first (the gateway lets
its requests in flight finish), then the demo, then Candystore stores and acknowledges
the batch in hand, then the bus closes. What is still queued stays in the broker
(the embedded one is durable under ``./.33god/``) and is stored on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import make_url

from bloodbank import BloodbankSettings, Bus
from bloodbank.serving import Listener, serve_apps
from candybar import CandybarSettings
from candybar import create_app as create_ui
from candystore import CandystoreSettings
from candystore.service import CandystoreService
from holyfields import Catalog
from stack.app import create_app
from stack.demo import DemoTraffic

__all__ = ["PlatformOptions", "describe_database", "run_platform"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PlatformOptions:
    """Where the platform listens and whether it makes demo traffic."""

    host: str = "127.0.0.1"
    gateway_port: int = 8682
    candystore_port: int = 8683
    candybar_port: int = 8684
    demo: bool = False
    demo_rate: float = 2.0


def describe_database(settings: CandystoreSettings) -> str:
    """The event store's database for people: the SQLite file, or the server URL without its password."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite at {url.database}"
    return f"PostgreSQL at {url.render_as_string(hide_password=True)}"


def _browsable(host: str) -> str:
    """The host a browser reaches a server on: a wildcard address is reached through the loopback."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 - comparing, not binding


def _ui_origins(options: PlatformOptions) -> list[str]:
    host = _browsable(options.host)
    names = {host, "localhost"} if host == "127.0.0.1" else {host}
    return [f"http://{name}:{options.candybar_port}" for name in sorted(names)]


async def run_platform(
    options: PlatformOptions,
    *,
    catalog: Catalog,
    bloodbank: BloodbankSettings,
    candystore: CandystoreSettings,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run everything until SIGINT/SIGTERM, then stop in order (see the module docstring)."""
    ui = _ui_origins(options)
    bloodbank = bloodbank.model_copy(update={"cors_origins": [*bloodbank.cors_origins, *ui]})
    candystore = candystore.model_copy(update={"cors_origins": [*candystore.cors_origins, *ui]})
    bus = await Bus.start(bloodbank)
    try:
        store = CandystoreService(candystore, bus)
        await store.start()
        try:
            await _serve(options, bus, store, catalog=catalog, ready=ready)
        finally:
            await store.stop(timeout=bloodbank.publish_timeout)
    finally:
        await bus.close(timeout=bloodbank.publish_timeout)


async def _serve(
    options: PlatformOptions,
    bus: Bus,
    store: CandystoreService,
    *,
    catalog: Catalog,
    ready: Callable[[], None] | None,
) -> None:
    stop = asyncio.Event()
    ui = CandybarSettings(
        gateway_url=f"http://{_browsable(options.host)}:{options.gateway_port}",
        candystore_url=f"http://{_browsable(options.host)}:{options.candystore_port}",
    )
    listeners = [
        Listener(create_app(catalog, bus=bus), options.host, options.gateway_port, "gateway"),
        Listener(store.api, options.host, options.candystore_port, "Candystore API"),
        Listener(create_ui(ui), options.host, options.candybar_port, "Candybar UI"),
    ]
    demo_task = None
    if options.demo:
        demo = DemoTraffic(bus, flows_per_second=options.demo_rate)
        demo_task = asyncio.create_task(demo.run(stop), name="demo-traffic")
    if ready is not None:
        ready()
    try:
        await serve_apps(listeners, stop=stop)
    finally:
        stop.set()
        if demo_task is not None:
            with contextlib.suppress(Exception):
                await demo_task
