"""The whole platform in one process: one bus, the gateway, Candystore, visibility, the UI, and demo traffic.

Every component keeps its own port, as when each runs alone. Shutdown runs in the
order that keeps every accepted event: the HTTP servers stop first (the gateway lets
its requests in flight finish), then the demo, then the visibility detector and
Candystore commit and acknowledge what they hold, then the bus closes. What is still queued stays in the broker
(the embedded one is durable under ``./.33god/``) and is stored on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2 as httpx
import structlog
from pydantic import SecretStr
from sqlalchemy import make_url

from bloodbank import BloodbankSettings, Bus
from candybar import CandybarSettings
from candybar import create_app as create_ui
from candystore import CandystoreSettings
from candystore.deliveries import Subscription, SubscriptionSource
from candystore.deliveries.subscription import new_secret
from candystore.service import CandystoreService
from gumdrop.access_control import Access
from gumdrop.serving import Listener, serve_apps, tune_collector
from gumdrop.settings import AccessSettings
from holyfields import Catalog
from stack.app import create_app
from stack.demo import DEMO_CONSUMER, DemoTraffic
from stack.demo_webhooks import RECEIVER_PATH, DeliveryReceiver, GithubDeliveries
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

__all__ = ["PlatformOptions", "PlatformSettings", "describe_database", "run_platform"]

log = structlog.get_logger(__name__)

DEMO_SUBSCRIPTION = "demo-receiver"
"""The subscription ``--demo`` adds: every ``github.*`` event to the demo's receiver."""


@dataclass(frozen=True, slots=True)
class PlatformOptions:
    """Where the platform listens and whether it makes demo traffic."""

    host: str = "127.0.0.1"
    gateway_port: int = 8682
    candystore_port: int = 8683
    candybar_port: int = 8684
    visibility_port: int = 8685
    receiver_port: int = 8686
    """The demo's delivery receiver (with ``demo`` only)."""
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


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    """Each component's settings, as read from its environment."""

    bloodbank: BloodbankSettings
    candystore: CandystoreSettings
    visibility: VisibilitySettings
    access: AccessSettings = field(default_factory=AccessSettings)


def _shared_database(visibility: VisibilitySettings, candystore: CandystoreSettings) -> VisibilitySettings:
    """Visibility keeps its tables in Candystore's database unless its own is configured."""
    if "database_url" in visibility.model_fields_set:
        return visibility
    return visibility.model_copy(
        update={
            "database_url": candystore.database_url,
            "database_schema": visibility.database_schema or candystore.database_schema,
            "database_ca_file": visibility.database_ca_file or candystore.database_ca_file,
            "cleartext_credentials": visibility.cleartext_credentials or candystore.cleartext_credentials,
            "data_dir": candystore.data_dir,
        }
    )


@dataclass(frozen=True, slots=True)
class _DemoWebhooks:
    """What ``--demo`` adds over HTTP: the GitHub secret it signs with, and the subscription to its receiver."""

    github_secret: str
    subscription: Subscription

    @classmethod
    def of(cls, options: PlatformOptions, bloodbank: BloodbankSettings) -> _DemoWebhooks:
        given = bloodbank.github_webhook_secret
        receiver = f"http://{_browsable(options.host)}:{options.receiver_port}{RECEIVER_PATH}"
        return cls(
            github_secret=given.get_secret_value() if given is not None else secrets.token_urlsafe(32),
            subscription=Subscription(
                name=DEMO_SUBSCRIPTION,
                patterns=("github.#",),
                url=receiver,
                secret=new_secret(),
                source=SubscriptionSource.FILE,
            ),
        )


async def run_platform(
    options: PlatformOptions,
    *,
    catalog: Catalog,
    settings: PlatformSettings,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run everything until SIGINT/SIGTERM, then stop in order (see the module docstring)."""
    ui = _ui_origins(options)
    watched = [*settings.bloodbank.watch_consumers, *([DEMO_CONSUMER] if options.demo else [])]
    bloodbank = settings.bloodbank.model_copy(
        update={"cors_origins": [*settings.bloodbank.cors_origins, *ui], "watch_consumers": watched}
    )
    demo = _DemoWebhooks.of(options, bloodbank) if options.demo else None
    if demo is not None:
        bloodbank = bloodbank.model_copy(update={"github_webhook_secret": SecretStr(demo.github_secret)})
    candystore = settings.candystore.model_copy(update={"cors_origins": [*settings.candystore.cors_origins, *ui]})
    visibility = _shared_database(settings.visibility, candystore).model_copy(
        update={
            "cors_origins": [*settings.visibility.cors_origins, *ui],
            "candybar_url": f"http://{_browsable(options.host)}:{options.candybar_port}",
        }
    )
    timeout = bloodbank.publish_timeout
    async with contextlib.AsyncExitStack() as running:  # unwinds in reverse: services first, the bus last
        bus = await Bus.start(bloodbank)
        running.push_async_callback(bus.close, timeout=timeout)
        access = settings.access
        store = CandystoreService(
            candystore,
            bus,
            access=Access.from_settings(access, origins=candystore.cors_origins, host=options.host),
            subscriptions=[demo.subscription] if demo is not None else [],
        )
        await store.start()
        running.push_async_callback(store.stop, timeout=timeout)
        detector = VisibilityService(
            visibility, bus, access=Access.from_settings(access, origins=visibility.cors_origins, host=options.host)
        )
        await detector.start()
        running.push_async_callback(detector.stop, timeout=timeout)
        tune_collector()
        await _serve(options, bus, store, detector, catalog=catalog, access=access, demo=demo, ready=ready)


async def _serve(
    options: PlatformOptions,
    bus: Bus,
    store: CandystoreService,
    detector: VisibilityService,
    *,
    catalog: Catalog,
    access: AccessSettings,
    demo: _DemoWebhooks | None,
    ready: Callable[[], None] | None,
) -> None:
    stop = asyncio.Event()
    host = _browsable(options.host)
    ui = CandybarSettings(
        gateway_url=f"http://{host}:{options.gateway_port}",
        candystore_url=f"http://{host}:{options.candystore_port}",
        visibility_url=f"http://{host}:{options.visibility_port}",
    )
    listeners = [
        Listener(
            create_app(
                catalog,
                bus=bus,
                access=Access.from_settings(access, origins=bus.settings.cors_origins, host=options.host),
            ),
            options.host,
            options.gateway_port,
            "gateway",
        ),
        Listener(store.api, options.host, options.candystore_port, "Candystore API"),
        Listener(detector.api, options.host, options.visibility_port, "visibility API"),
        Listener(
            create_ui(ui, access=Access.from_settings(access, host=options.host)),
            options.host,
            options.candybar_port,
            "Candybar UI",
        ),
    ]
    async with contextlib.AsyncExitStack() as running:
        demo_task = None
        if demo is not None:
            receiver = DeliveryReceiver(demo.subscription.secret)
            listeners.append(Listener(receiver.app, options.host, options.receiver_port, "demo delivery receiver"))
            client = await running.enter_async_context(httpx.AsyncClient(timeout=bus.settings.publish_timeout))
            github = GithubDeliveries(f"http://{host}:{options.gateway_port}", demo.github_secret, client)
            traffic = DemoTraffic(bus, flows_per_second=options.demo_rate, github=github)
            demo_task = asyncio.create_task(traffic.run(stop), name="demo-traffic")
        if ready is not None:
            ready()
        try:
            await serve_apps(listeners, stop=stop)
        finally:
            stop.set()
            if demo_task is not None:
                with contextlib.suppress(Exception):
                    await demo_task
