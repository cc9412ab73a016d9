"""``33god bench deliveries``: events delivered to a local HTTP receiver through a subscription, against bare httpx.

Both sides POST the same bodies (realistic envelopes, as JSON) to the same receiver, a
uvicorn process of its own on 127.0.0.1 answering 204, with the same number of requests in
flight (``CANDYSTORE_DELIVERY_CONCURRENCY``):

* **ours**: the events wait in ``delivery.bench``, published beforehand; Candystore's delivery
  manager starts the subscription's consumer, which takes each event from the bus (validated),
  checks it was not delivered before, signs it (Standard Webhooks), POSTs it, records the
  delivery in the database and acknowledges it. Its rate runs from the start to the last record;
* **bare httpx**: one ``httpx.AsyncClient`` posting the bodies from a list, unsigned: the HTTP
  client's and the receiver's own ceiling on this machine.

The bus and the database are what the settings point at (RabbitMQ in a private virtual host
and PostgreSQL in a private schema when their URLs are set; else the embedded broker and
SQLite in a temporary folder). The sides alternate for a few rounds, best of each.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx2 as httpx
import msgspec
from prometheus_client import CollectorRegistry
from rich.console import Console

from bloodbank import BloodbankSettings, Bus
from bloodbank.transport import Transport
from candystore import CandystoreSettings, EventStore
from candystore.deliveries import DeliveryManager, Subscription, SubscriptionCatalog, SubscriptionSource, new_secret
from candystore.store.migrate import upgrade
from stack.bench.sandbox import DEFAULT_BROKER_URL, bench_schema, bench_vhost, check_broker
from stack.bench.traffic import EnvelopeFactory

__all__ = ["run_deliveries", "serve_receiver"]

EVENTS_PER_SECOND = 1_000
"""Events each side delivers per ``--seconds`` (a fixed volume, the same for both)."""
MIN_EVENTS = 2_000
ROUNDS = 3
SETTLE_SECONDS = 0.5
SUBSCRIPTION = "bench"
RECEIVER_COMMAND = "from stack.bench.deliveries import serve_receiver; serve_receiver()"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _receiver_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Reads the request body and answers 204: a receiver that accepts everything at once."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def serve_receiver() -> None:
    """Serve the receiver on a free port of 127.0.0.1 and print the port, until terminated."""
    import uvicorn  # noqa: PLC0415 - the receiver's process only

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    print(listening.getsockname()[1], flush=True)  # noqa: T201 - the benchmark reads the port
    config = uvicorn.Config(_receiver_app, log_level="warning", lifespan="off", access_log=False, backlog=2048)
    uvicorn.Server(config).run(sockets=[listening])


@asynccontextmanager
async def _receiver() -> AsyncIterator[str]:
    """The receiver's URL, its process stopped afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECEIVER_COMMAND, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None  # noqa: S101 - started with stdout=PIPE
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        url = f"http://127.0.0.1:{port}/hooks"
        async with httpx.AsyncClient() as client:  # answering, not only listening
            for _ in range(100):
                try:
                    await client.post(url, content=b"{}", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        await process.wait()


# --- the two sides --------------------------------------------------------------------------


async def _bare(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Bare httpx: ``concurrency`` workers posting the bodies; events per second."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    pending = iter(bodies)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def work() -> None:
            for body in pending:
                response = await client.post(url, content=body, headers={"content-type": "application/json"})
                if not response.is_success:
                    raise RuntimeError(f"the receiver answered {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - started)


@dataclass
class _Ours:
    """The platform side: a bus, a migrated store and a subscription to the receiver."""

    bus: Bus
    store: EventStore
    settings: CandystoreSettings
    catalog: SubscriptionCatalog

    async def round(self, envelopes: list[dict[str, Any]]) -> float:
        """Publish into the subscription's queue, then deliver everything; events per second of the delivering."""
        registry = CollectorRegistry()
        manager = DeliveryManager(self.catalog, self.bus, settings=self.settings, registry=registry)
        [subscription] = await self.catalog.all()
        await self.bus.transport.declare_consumer(manager.plan(subscription).spec)
        outcomes = await self.bus.publisher.publish_many(envelopes)
        if not all(outcome.ok for outcome in outcomes):
            raise RuntimeError("the benchmark's own events were refused")
        labels = {"subscription": SUBSCRIPTION, "outcome": "delivered"}
        started = time.perf_counter()
        await manager.start()
        try:
            while (registry.get_sample_value("candystore_deliveries_total", labels) or 0) < len(envelopes):
                if not manager.running(SUBSCRIPTION):
                    raise RuntimeError("the subscription's consumer did not start")
                await asyncio.sleep(0.005)
            return len(envelopes) / (time.perf_counter() - started)
        finally:
            await manager.stop(timeout=10)


def _transport(broker_url: str | None, data_dir: Path) -> Transport:
    """The bus without Candystore's own queue: every event goes to the one queue measured."""
    if broker_url:
        from bloodbank.transport.rabbitmq import RabbitMQTransport  # noqa: PLC0415 - only when configured

        return RabbitMQTransport(broker_url, connection_name="bench-deliveries", shared_consumers=())
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415 - only when configured

    return EmbeddedTransport(data_dir / "bus.sqlite3", shared_consumers=())


@asynccontextmanager
async def _platform(url: str, broker_url: str | None, database: str | None, data_dir: Path) -> AsyncIterator[_Ours]:
    settings = CandystoreSettings(data_dir=data_dir, database_url=database)
    connect_args = settings.connect_args
    async with _schema(database) as search_path:
        if search_path is not None:
            connect_args = {**connect_args, "server_settings": {"search_path": search_path}}
        store = EventStore.open(settings.sqlalchemy_url, connect_args=connect_args)
        await upgrade(store.engine)
        bus = await Bus.start(
            BloodbankSettings(broker_url=broker_url, data_dir=data_dir / "bus", redis_url=None),
            transport=_transport(broker_url, data_dir),
        )
        subscription = Subscription(
            name=SUBSCRIPTION, patterns=("#",), url=url, secret=new_secret(), source=SubscriptionSource.FILE
        )
        try:
            yield _Ours(bus, store, settings, SubscriptionCatalog(store, [subscription]))
        finally:
            await bus.close(timeout=10)
            await store.close()


@asynccontextmanager
async def _schema(database: str | None) -> AsyncIterator[str | None]:
    """A private PostgreSQL schema when a database URL is set; None (a temporary SQLite file) otherwise."""
    if database is None:
        yield None
        return
    async with bench_schema(database) as schema:
        yield schema.name


async def _run(
    url_of_broker: str | None, database: str | None, events: int, console: Console
) -> tuple[float, float, int]:
    factory = EnvelopeFactory()
    rounds = [factory.batch(events) for _ in range(ROUNDS)]
    bodies = [msgspec.json.encode(envelope) for envelope in rounds[0]]
    concurrency = CandystoreSettings().delivery_concurrency
    ours = bare = 0.0
    with TemporaryDirectory() as tmp:
        async with _receiver() as url, _platform(url, url_of_broker, database, Path(tmp)) as platform:
            for number, envelopes in enumerate(rounds, start=1):
                with console.status(f"round {number}/{ROUNDS}: bare httpx…"):
                    await asyncio.sleep(SETTLE_SECONDS)
                    bare = max(bare, await _bare(url, bodies, concurrency))
                with console.status(f"round {number}/{ROUNDS}: through the subscription…"):
                    await asyncio.sleep(SETTLE_SECONDS)
                    ours = max(ours, await platform.round(envelopes))
    return ours, bare, concurrency


def run_deliveries(*, seconds: float, console: Console) -> dict[str, Any]:
    broker_url = BloodbankSettings().broker_url
    database = CandystoreSettings().database_url
    events = max(MIN_EVENTS, round(seconds * EVENTS_PER_SECOND))
    load = round(os.getloadavg()[0], 2)
    if broker_url:
        asyncio.run(check_broker(broker_url or DEFAULT_BROKER_URL))
        with bench_vhost(broker_url) as vhost:
            if not vhost.isolated:
                console.print(f"[yellow]no private virtual host ({vhost.reason}): using {SUBSCRIPTION}'s queue[/]")
            ours, bare, concurrency = asyncio.run(_run(vhost.url, database, events, console))
    else:
        ours, bare, concurrency = asyncio.run(_run(None, database, events, console))
    console.print(f"delivered  ours {ours:>8,.0f}/s   bare httpx {bare:>8,.0f}/s")
    return {
        "bench": "deliveries",
        "unit": "events/s",
        "ours": round(ours),
        "baseline": {"name": "bare httpx posting the same bodies, same concurrency, unsigned", "value": round(bare)},
        "ratio": round(ours / bare, 2),
        "concurrency": concurrency,
        "events": events,
        "rounds": ROUNDS,
        "broker": "rabbitmq" if broker_url else "embedded",
        "database": "postgresql" if database else "sqlite",
        "load_1m": load,
    }
