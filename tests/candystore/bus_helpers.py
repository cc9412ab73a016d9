"""An embedded bus with a queue watching the main exchange, and reading what reached that queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bloodbank import ConsumerSpec
from bloodbank.transport import Delivery
from bloodbank.transport.embedded import EmbeddedTransport


@asynccontextmanager
async def watched_bus(path: Path, watch: ConsumerSpec) -> AsyncIterator[EmbeddedTransport]:
    """An embedded transport in ``path`` with its topology and the ``watch`` queue declared."""
    embedded = EmbeddedTransport(path)
    await embedded.connect()
    await embedded.declare_topology()
    await embedded.declare_consumer(watch)
    try:
        yield embedded
    finally:
        await embedded.close()


async def received(transport: EmbeddedTransport, watch: ConsumerSpec, *, expect: int) -> list[Delivery]:
    """Take ``expect`` messages from the watching queue, then check that no more arrive."""
    deliveries: list[Delivery] = []

    async def keep(delivery: Delivery) -> None:
        deliveries.append(delivery)
        await delivery.ack()

    subscription = await transport.consume_queue(watch.name, keep, prefetch=100)
    try:
        for _ in range(500):
            if len(deliveries) >= expect:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    finally:
        await subscription.stop(timeout=5)
    assert len(deliveries) == expect
    return deliveries
