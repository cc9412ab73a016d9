"""``33god bench pipeline``: events published through RabbitMQ into Candystore on PostgreSQL, committed.

Three ways to move the same realistic events, in one run, on one broker and one database (and ours
a fourth time, traced):

* **ours**: a Bloodbank :class:`~bloodbank.Bus` publishing with ``publish_many`` (windowed,
  confirms) while Candystore's ingestor, in its own process as in production, consumes
  ``candystore.events`` (quorum) and commits the events in batches; its rate runs from the
  first publish to the last commit;
* **raw aio-pika**: persistent publishes with confirms, same window, through a topic exchange
  into a quorum queue, publishing only: the broker's own ceiling for this traffic;
* **FastStream**: a FastStream publisher, and a FastStream subscriber (its own process) on a
  quorum queue doing one asyncpg ``INSERT`` per event; its rate runs to the last commit;
* **ours, traced**: ours again with OpenTelemetry on in the publisher and the ingestor, every span
  sampled and exported over OTLP/HTTP to a collector process; ``traced_ratio`` is it ÷ ours.

The three alternate for a few rounds (best of each), because the broker's and the machine's
state drift during a run, each starting after a second of quiet. Then, once the FastStream side
has stopped, single events are published at 1,000 events/s through ours, and the latency from
each envelope's timestamp to the commit that stored it is reported.

Everything runs in a fresh virtual host and a fresh PostgreSQL schema, both removed afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

import aio_pika
import asyncpg
import msgspec
from rich.console import Console
from rich.status import Status
from yarl import URL

from bloodbank import BloodbankSettings, Bus, ConsumerSpec, timestamp_text
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore import CandystoreSettings
from candystore.ingest import CONSUMER
from candystore.store import EventStore
from candystore.store.migrate import upgrade
from gumdrop.serving import tune_collector
from gumdrop.telemetry import force_tracing
from stack.bench.otlp_collector import export_traces_to, otlp_collector, spans_received
from stack.bench.pipeline_sinks import (
    FASTSTREAM_EXCHANGE,
    FASTSTREAM_QUEUE,
    FASTSTREAM_TABLE,
    Sink,
    SinkConfig,
    start_sink,
)
from stack.bench.sandbox import (
    DEFAULT_BROKER_URL,
    DEFAULT_DATABASE_URL,
    BenchSchema,
    bench_schema,
    bench_vhost,
    check_broker,
    percentile,
)
from stack.bench.traffic import EnvelopeFactory

__all__ = ["run_pipeline"]

EVENTS_PER_SECOND = 5_000
"""Events each side moves per ``--seconds`` (a fixed volume, the same for every side)."""
MIN_EVENTS = 2_000
WINDOW = 256
LATENCY_RATE = 1_000.0
ROUNDS = 2
SETTLE_SECONDS = 1.0
"""Idle time before each side is measured: the broker's clean-up after one burst is not the next side's cost."""


@dataclass(frozen=True)
class _Plan:
    """Where this run goes and how much it moves."""

    amqp_url: str
    isolated: bool
    schema: BenchSchema
    events: int
    latency_events: int
    store_settings: CandystoreSettings
    consumer: str
    """Candystore's queue; on a shared virtual host, one of our own instead of the real one."""
    faststream_queue: str
    load: float
    """The machine's 1-minute load average when the run began: other work skews every figure."""


# --- the publishing sides -----------------------------------------------------------------


async def _raw(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Raw aio-pika publishing, persistent with confirms, through a topic exchange into a quorum queue."""
    name = f"bench.raw.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, auto_delete=True)
        queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(exchange, "#")
        started = time.perf_counter()
        for start in range(0, len(messages), WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=key
                    )
                    for key, body in messages[start : start + WINDOW]
                )
            )
        rate = len(messages) / (time.perf_counter() - started)
        await channel.queue_delete(name)
    return rate


async def _start_bus(plan: _Plan, data_dir: Path) -> Bus:
    # Local idempotency and correlation stores: a configured Redis is left alone.
    settings = BloodbankSettings(broker_url=plan.amqp_url, data_dir=data_dir, redis_url=None, publish_window=WINDOW)
    return await Bus.start(settings, transport=RabbitMQTransport(plan.amqp_url, connection_name="bench-publisher"))


async def _ours_round(bus: Bus, sink: Sink, envelopes: list[dict[str, Any]]) -> float:
    """Publish every envelope with ``publish_many``; the rate from the first publish to the last commit."""
    started = time.time()
    outcomes = await bus.publisher.publish_many(envelopes)
    if not all(outcome.ok for outcome in outcomes):
        raise RuntimeError("the benchmark's own events were refused")
    result = await sink.phase()
    return len(envelopes) / (result.last_commit - started)


async def _ours_latency(bus: Bus, sink: Sink, factory: EnvelopeFactory, count: int) -> tuple[float, list[float]]:
    """Publish single events at LATENCY_RATE: the rate reached and the envelope-timestamp-to-commit latencies.

    Each event is published on its own schedule, as independent producers would send them, without
    waiting for the previous one's confirm: a slow confirm delays its own event, not the rate.
    """
    interval = 1.0 / LATENCY_RATE
    envelopes = factory.batch(count)  # made beforehand: the benchmark's own work stays out of the measured loop
    publishes: list[asyncio.Task[str]] = []
    start = time.perf_counter()
    for index, envelope in enumerate(envelopes):
        await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
        envelope["timestamp"] = timestamp_text()  # stamped as it is published
        publishes.append(asyncio.create_task(bus.publisher.publish_envelope(envelope)))
    rate = count / (time.perf_counter() - start)
    await asyncio.gather(*publishes)
    return rate, (await sink.phase()).latencies


@asynccontextmanager
async def _faststream_publisher(url: str) -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[object]]]:
    """A connected FastStream publisher (persistent, confirms) on its topic exchange: publish(envelope)."""
    # Imported here: FastStream is the baseline's library, needed only by this benchmark.
    from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange  # noqa: PLC0415

    broker = RabbitBroker(url, logger=None)
    publisher = broker.publisher(
        exchange=RabbitExchange(FASTSTREAM_EXCHANGE, type=ExchangeType.TOPIC, durable=True), persist=True
    )
    async with broker:
        await broker.start()
        yield lambda envelope: publisher.publish(envelope, routing_key=envelope["event_type"])


async def _faststream_round(
    publish: Callable[[dict[str, Any]], Awaitable[object]], sink: Sink, envelopes: list[dict[str, Any]]
) -> float:
    """Publish every envelope through FastStream, same window; the rate to the subscriber's last commit."""
    started = time.time()
    for start in range(0, len(envelopes), WINDOW):
        await asyncio.gather(*(publish(envelope) for envelope in envelopes[start : start + WINDOW]))
    result = await sink.phase()
    return len(envelopes) / (result.last_commit - started)


# --- the run ------------------------------------------------------------------------------


async def _prepare(schema: BenchSchema) -> None:
    """Migrate the store's schema and create FastStream's plain table beside it."""
    store = EventStore.open(schema.sqlalchemy_url, connect_args=schema.connect_args)
    try:
        await upgrade(store.engine)
    finally:
        await store.close()
    connection = await asyncpg.connect(schema.dsn, server_settings=schema.server_settings, timeout=10)
    try:
        await connection.execute(
            f"CREATE TABLE {FASTSTREAM_TABLE} (event_id uuid PRIMARY KEY, event_type text NOT NULL, "
            "timestamp timestamptz NOT NULL, document jsonb NOT NULL)"
        )
    finally:
        await connection.close()


def _sink_config(
    plan: _Plan,
    kind: Literal["ours", "faststream"],
    phases: tuple[int, ...],
    *,
    otlp_endpoint: str | None = None,
    traced: tuple[bool, ...] = (),
) -> SinkConfig:
    settings = plan.store_settings
    return SinkConfig(
        kind=kind,
        amqp_url=plan.amqp_url,
        schema=plan.schema,
        phases=phases,
        queue=plan.consumer if kind == "ours" else plan.faststream_queue,
        prefetch=settings.prefetch,  # what the ingestor asks for
        batch_size=settings.batch_size,
        batch_wait=settings.batch_wait,
        writers=settings.writers,
        otlp_endpoint=otlp_endpoint,
        traced=traced,
    )


class _Traffic:
    """The events of every round, made before measuring: distinct events per side and round."""

    def __init__(self, events: int) -> None:
        self.factory = EnvelopeFactory()
        self.ours = [self.factory.batch(events) for _ in range(ROUNDS)]
        self.traced = [self.factory.batch(events) for _ in range(ROUNDS)]
        self.faststream = [self.factory.batch(events) for _ in range(ROUNDS)]
        self.raw = [(e["event_type"], msgspec.json.encode(e)) for e in self.ours[0]]


async def _run(plan: _Plan, status: Status) -> dict[str, Any]:
    traffic = _Traffic(plan.events)
    # The publishing process is tuned as a service using the library would be, as `bloodbank serve`
    # is (ADR 0011): otherwise full collections walking the prepared events and every side's
    # objects stall it for 20-80 ms at a time, whichever side is publishing. All three sides
    # publish from this process, so all three run with it.
    threshold = gc.get_threshold()
    tune_collector()
    try:
        return await _measure(plan, status, traffic)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@dataclass
class _Best:
    """The best rate of each side over the rounds."""

    raw: float = 0.0
    ours: float = 0.0
    traced: float = 0.0
    faststream: float = 0.0
    spans: int = 0


async def _measure(plan: _Plan, status: Status, traffic: _Traffic) -> dict[str, Any]:
    best = _Best()
    status.update("starting Candystore's ingestor, the FastStream subscriber and a trace collector…")
    # Per round: ours untraced, then ours traced (the same ingestor, its tracing switched per phase);
    # then the latency phase, untraced.
    ours_phases = (*(plan.events for _ in range(2 * ROUNDS)), plan.latency_events)
    traced_phases = (*((False, True) * ROUNDS), False)
    async with otlp_collector() as endpoint:
        provider = export_traces_to(endpoint, "bench-publisher")
        ours_config = _sink_config(plan, "ours", ours_phases, otlp_endpoint=endpoint, traced=traced_phases)
        async with start_sink(ours_config) as ours_sink:
            with TemporaryDirectory() as tmp:
                bus = await _start_bus(plan, Path(tmp))
                try:
                    async with (
                        start_sink(_sink_config(plan, "faststream", (plan.events,) * ROUNDS)) as faststream_sink,
                        _faststream_publisher(plan.amqp_url) as publish,
                    ):
                        await ours_sink.ready()
                        await faststream_sink.ready()
                        for number in range(ROUNDS):
                            await _round(plan, status, traffic, number, bus, ours_sink, faststream_sink, publish, best)
                    # The FastStream side is gone (its process exited), so its teardown is not measured either.
                    await _settle(status, f"latency: {plan.latency_events:,} single events at {LATENCY_RATE:,.0f}/s…")
                    latency = await _ours_latency(bus, ours_sink, traffic.factory, plan.latency_events)
                finally:
                    await bus.close()
        provider.shutdown()  # what the publisher still held is exported before the count is read
        best.spans = await spans_received(endpoint)
    if not plan.isolated:
        await _delete_queues(plan)
    return _figures(plan, best, latency)


async def _round(  # noqa: PLR0917 - one round of every side, over what _measure started
    plan: _Plan,
    status: Status,
    traffic: _Traffic,
    number: int,
    bus: Bus,
    ours_sink: Sink,
    faststream_sink: Sink,
    publish: Callable[[dict[str, Any]], Awaitable[object]],
    best: _Best,
) -> None:
    """Raw, ours, ours traced, FastStream: each starts on a settled broker, after the previous burst's clean-up."""
    name = f"round {number + 1}/{ROUNDS}, {plan.events:,} events"
    await _settle(status, f"{name}: raw aio-pika publishing…")
    best.raw = max(best.raw, await _raw(plan.amqp_url, traffic.raw))
    await _settle(status, f"{name}: Bloodbank → Candystore…")
    best.ours = max(best.ours, await _ours_round(bus, ours_sink, traffic.ours[number]))
    await _settle(status, f"{name}: Bloodbank → Candystore, traced and exported…")
    force_tracing(enabled=True)
    try:
        best.traced = max(best.traced, await _ours_round(bus, ours_sink, traffic.traced[number]))
    finally:
        force_tracing(enabled=False)
    await _settle(status, f"{name}: FastStream → asyncpg…")
    best.faststream = max(
        best.faststream, await _faststream_round(publish, faststream_sink, traffic.faststream[number])
    )


async def _settle(status: Status, next_step: str) -> None:
    """Leave the broker and the machine idle for SETTLE_SECONDS, then say what is measured next."""
    status.update(f"settling… (next: {next_step})")
    await asyncio.sleep(SETTLE_SECONDS)
    status.update(next_step)


async def _delete_queues(plan: _Plan) -> None:
    """On a shared virtual host, remove the queues this run declared."""
    connection = await aio_pika.connect(plan.amqp_url)
    async with connection:
        channel = await connection.channel()
        spec = ConsumerSpec(plan.consumer, ("#",))
        for name in (plan.consumer, *(spec.retry_queue(d) for d in spec.retry_delays), plan.faststream_queue):
            await channel.queue_delete(name)


def _figures(plan: _Plan, best: _Best, latency: tuple[float, list[float]]) -> dict[str, Any]:
    latency_rate, latencies = latency
    millis = [value * 1000 for value in latencies]
    return {
        "bench": "pipeline",
        "unit": "events/s",
        "ours": round(best.ours),
        "baseline": {
            "name": "raw aio-pika publish (confirms, topic exchange, quorum queue)",
            "value": round(best.raw),
        },
        "ratio": round(best.ours / best.raw, 2),
        "faststream": round(best.faststream),
        "faststream_ratio": round(best.ours / best.faststream, 2),
        "traced": round(best.traced),
        "traced_ratio": round(best.traced / best.ours, 2),
        "spans_exported": best.spans,
        "spans_per_traced_event": round(best.spans / (plan.events * ROUNDS), 2),
        "p50_ms": round(statistics.median(millis), 2),
        "p95_ms": round(percentile(millis, 0.95), 2),
        "p99_ms": round(percentile(millis, 0.99), 2),
        "latency_rate": round(latency_rate),
        "latency_events": plan.latency_events,
        "events": plan.events,
        "rounds": ROUNDS,
        "batch_size": plan.store_settings.batch_size,
        "batch_wait_ms": round(plan.store_settings.batch_wait * 1000, 1),
        "writers": plan.store_settings.writers,
        "load_1m": plan.load,
    }


def run_pipeline(*, seconds: float, console: Console) -> dict[str, Any]:
    broker_url = BloodbankSettings().broker_url or DEFAULT_BROKER_URL
    store_settings = CandystoreSettings()
    database_url = store_settings.database_url or DEFAULT_DATABASE_URL
    events = max(MIN_EVENTS, round(seconds * EVENTS_PER_SECOND))
    latency_events = max(round(LATENCY_RATE), round(seconds * LATENCY_RATE))
    load = round(os.getloadavg()[0], 2)
    safe_url = URL(broker_url).with_password("***") if URL(broker_url).password else broker_url
    asyncio.run(check_broker(broker_url))
    with console.status("creating a private virtual host and schema…") as status, bench_vhost(broker_url) as vhost:
        if not vhost.isolated:
            console.print(
                f"[yellow]no private virtual host ({vhost.reason}): using queues of our own on {safe_url}; "
                "the events also reach any other queue bound to bloodbank.events.v1 there[/yellow]"
            )
        suffix = "" if vhost.isolated else f".{uuid.uuid4().hex[:8]}"  # shared: queues of this run's own
        queues = (CONSUMER.name if vhost.isolated else f"bench.candystore{suffix}", FASTSTREAM_QUEUE + suffix)

        async def run() -> dict[str, Any]:
            async with bench_schema(database_url) as schema:
                await _prepare(schema)
                plan = _Plan(vhost.url, vhost.isolated, schema, events, latency_events, store_settings, *queues, load)
                return await _run(plan, status)

        figures = asyncio.run(run())
    console.print(f"ours        {figures['ours']:>9,} events/s committed")
    console.print(f"raw         {figures['baseline']['value']:>9,} events/s published (ratio {figures['ratio']})")
    console.print(
        f"FastStream  {figures['faststream']:>9,} events/s committed (ours ÷ it {figures['faststream_ratio']})"
    )
    console.print(
        f"traced      {figures['traced']:>9,} events/s committed, every span exported over OTLP "
        f"({figures['spans_per_traced_event']} spans an event; traced ÷ untraced {figures['traced_ratio']})"
    )
    console.print(
        f"latency at {figures['latency_rate']:,}/s: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
        f"p99 {figures['p99_ms']} ms"
    )
    return figures
