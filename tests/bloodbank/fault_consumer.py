"""A consumer process for the fault tests: handles retail events and logs each handling to SQLite.

Run as ``python -m tests.bloodbank.fault_consumer BROKER_URL DATA_DIR``. Events whose
product id starts with ``POISON`` always fail (they end in the DLQ after the retries).
Every call of the handler is logged (duplicates included), so the test can count.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import structlog

from bloodbank import BloodbankSettings, Bus, Event
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.transport.rabbitmq import RabbitMQTransport

CONSUMER = "faults.consumer"


async def main(url: str, data_dir: Path) -> None:
    log = sqlite3.connect(data_dir / "handled-log.sqlite3", isolation_level=None)
    log.execute("PRAGMA journal_mode=WAL")
    log.execute("CREATE TABLE IF NOT EXISTS calls (event_id TEXT, outcome TEXT)")
    settings = BloodbankSettings(broker_url=url, data_dir=data_dir)
    bus = await Bus.start(
        settings,
        transport=RabbitMQTransport(url, connection_name="fault-consumer"),
        idempotency=LocalIdempotencyStore(data_dir / "handled.sqlite3", ttl=3600),
    )

    async def handle(event: Event) -> None:
        poison = str(event.document["payload"].get("product_id", "")).startswith("POISON")
        log.execute("INSERT INTO calls VALUES (?, ?)", (event.event_id, "fail" if poison else "ok"))
        if poison:
            raise RuntimeError("poison event")

    await bus.subscribe(CONSUMER, ["retail.#"], handle, prefetch=100)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)  # noqa: T201 - the test waits for this line
    await stop.wait()
    await bus.close()


if __name__ == "__main__":
    # Logs go to stderr: stdout carries the "ready" line the test waits for.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
