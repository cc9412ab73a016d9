"""``33god bench bus``: Bloodbank publish (confirms) and consume (acks) against raw aio-pika, same queue type.

Both sides move the same number of realistic events through a quorum queue on the
broker ``BLOODBANK_BROKER_URL`` points at. Ours includes validation at both ends,
the typed models and the idempotency store; raw aio-pika does only the AMQP work.
Then events are published one by one at 1,000 events/s and the publish-to-handler
latency is measured.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aio_pika
import msgspec
from rich.console import Console

from bloodbank import BloodbankSettings, Bus, ConsumerSpec, Event, build_envelope
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.transport.rabbitmq import RabbitMQTransport
from holyfields import default_catalog

__all__ = ["run_bus"]

EVENTS = 20_000
WINDOW = 256
LATENCY_EVENTS = 3_000
LATENCY_RATE = 1_000.0
ROUNDS = 3


def _envelopes(count: int) -> list[dict[str, Any]]:
    catalog = default_catalog()
    examples = [(str(d.event_type), e) for d in catalog.payload_schemas() for e in d.examples]
    source = {"host": "bench", "type": "system", "app": "bench"}
    return [build_envelope(*examples[i % len(examples)], source=source) for i in range(count)]


async def _raw(url: str, messages: list[tuple[str, bytes]]) -> tuple[float, float]:
    """Raw aio-pika doing the same AMQP work: persistent publishes with confirms (same window) through a
    topic exchange into a quorum queue, then consuming them with acks."""
    queue_name = f"bench.raw.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(queue_name, aio_pika.ExchangeType.TOPIC, auto_delete=True)
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
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
        publish_rate = len(messages) / (time.perf_counter() - started)

        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == len(messages):
                done.set()

        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=WINDOW)
        consume_queue = await consume_channel.get_queue(queue_name)
        started = time.perf_counter()
        await consume_queue.consume(on_message)
        await done.wait()
        consume_rate = len(messages) / (time.perf_counter() - started)
        await channel.queue_delete(queue_name)
    return publish_rate, consume_rate


async def _ours(
    url: str, envelopes: list[dict[str, Any]], paced: list[dict[str, Any]], data_dir: Path
) -> tuple[float, float, list[float]]:
    """Bloodbank publishing ``envelopes`` (confirms) and consuming them (acks); then ``paced`` at 1,000/s."""
    settings = BloodbankSettings(broker_url=url, data_dir=data_dir)
    bus = await Bus.start(
        settings,
        # Without the store's queue: like the raw side, each event goes to the one queue measured.
        transport=RabbitMQTransport(url, connection_name="bench", shared_consumers=()),
        idempotency=LocalIdempotencyStore(data_dir / "handled.sqlite3", ttl=3600),
    )
    consumer = f"bench.ours.{uuid.uuid4().hex[:8]}"
    try:
        await bus.transport.declare_consumer(ConsumerSpec(consumer, ("#",)))
        started = time.perf_counter()
        outcomes = await bus.publisher.publish_many(envelopes)
        publish_rate = len(envelopes) / (time.perf_counter() - started)
        if not all(o.ok for o in outcomes):
            raise RuntimeError("the benchmark's own events were refused")

        done = asyncio.Event()
        handled = 0
        sent_at: dict[str, float] = {}
        latencies: list[float] = []

        latency_done = asyncio.Event()

        async def handle(event: Event) -> None:
            nonlocal handled
            if (sent := sent_at.pop(event.event_id, None)) is not None:
                latencies.append(time.perf_counter() - sent)
                if len(latencies) == LATENCY_EVENTS:
                    latency_done.set()
            handled += 1
            if handled == len(envelopes):
                done.set()

        started = time.perf_counter()
        await bus.subscribe(consumer, ["#"], handle, prefetch=WINDOW)
        await done.wait()
        consume_rate = len(envelopes) / (time.perf_counter() - started)

        if not paced:
            return publish_rate, consume_rate, latencies
        # Latency at a steady 1,000 events/s, one publish (with its confirm) at a time.
        interval = 1.0 / LATENCY_RATE
        start = time.perf_counter()
        for index, envelope in enumerate(paced):
            await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
            sent_at[envelope["event_id"]] = time.perf_counter()
            await bus.publisher.publish_envelope(envelope)
        await asyncio.wait_for(latency_done.wait(), timeout=60)
    finally:
        await bus.close()
        await _delete_queues(url, consumer)
    return publish_rate, consume_rate, latencies


async def _delete_queues(url: str, consumer: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        spec = ConsumerSpec(consumer, ("#",))
        for name in (consumer, *(spec.retry_queue(delay) for delay in spec.retry_delays)):
            await channel.queue_delete(name)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_bus(*, seconds: float, console: Console) -> dict[str, Any]:
    del seconds  # a fixed volume, not a time budget: both sides move the same events
    url = BloodbankSettings().broker_url
    if not url:
        raise SystemExit("the bus benchmark compares against raw aio-pika: set BLOODBANK_BROKER_URL=amqp://…")
    messages = [(e["event_type"], msgspec.json.encode(e)) for e in _envelopes(EVENTS)]
    # Fresh events (new ids) for each of our rounds, and the paced ones, all made up front.
    ours_envelopes = [_envelopes(EVENTS) for _ in range(ROUNDS)]
    paced = _envelopes(LATENCY_EVENTS)
    # The prepared events are the benchmark's own data: keep the garbage collector from
    # walking them again and again during both sides' measurements.
    gc.collect()
    gc.freeze()
    # Interleaved rounds, best of each side: the broker's own state (segment files, memory)
    # drifts during a run, and alternating keeps either side from getting only the good moments.
    raw_publish = raw_consume = publish = consume = 0.0
    latencies: list[float] = []
    try:
        for round_number in range(1, ROUNDS + 1):
            with console.status(f"round {round_number}/{ROUNDS}: raw aio-pika…"):
                raw = asyncio.run(_raw(url, messages))
            last = round_number == ROUNDS
            with TemporaryDirectory() as tmp, console.status(f"round {round_number}/{ROUNDS}: Bloodbank…"):
                envelopes = ours_envelopes[round_number - 1]
                ours = asyncio.run(_ours(url, envelopes, paced if last else [], Path(tmp)))
            raw_publish, raw_consume = max(raw_publish, raw[0]), max(raw_consume, raw[1])
            publish, consume = max(publish, ours[0]), max(consume, ours[1])
            latencies = latencies or ours[2]
    finally:
        gc.unfreeze()
    console.print(f"publish  ours {publish:>9,.0f}/s   raw {raw_publish:>9,.0f}/s")
    console.print(f"consume  ours {consume:>9,.0f}/s   raw {raw_consume:>9,.0f}/s")
    millis = [value * 1000 for value in latencies]
    return {
        "bench": "bus",
        "unit": "events/s",
        "ours": round(publish),
        "baseline": {
            "name": "raw aio-pika publish (confirms, topic exchange, quorum queue)",
            "value": round(raw_publish),
        },
        "ratio": round(publish / raw_publish, 2),
        "consume": round(consume),
        "baseline_consume": round(raw_consume),
        "consume_ratio": round(consume / raw_consume, 2),
        "p50_ms": round(statistics.median(millis), 2),
        "p95_ms": round(_percentile(millis, 0.95), 2),
        "p99_ms": round(_percentile(millis, 0.99), 2),
        "latency_rate": LATENCY_RATE,
        "events": EVENTS,
        "rounds": ROUNDS,
    }
