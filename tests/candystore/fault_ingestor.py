"""Candystore's consumers as a process of their own, for the fault tests: killed, restarted, cut off.

Run as ``python -m tests.candystore.fault_ingestor BROKER_URL DATABASE_URL SCHEMA APPLICATION_NAME``.
It runs the :class:`~candystore.Ingestor` and the :class:`~candystore.DeadLetterKeeper` on
RabbitMQ and a migrated PostgreSQL schema, connecting as ``APPLICATION_NAME`` so that a
test can find (and terminate) its database sessions and no one else's. Its metrics are
served on a free local port, printed with the ``ready`` line the test waits for (said once
connected, just before the ingestor starts consuming).

``--crash-after-batches N`` exits with status 9 right after the N-th batch is committed,
before any of its deliveries is acknowledged: the crash between commit and ack.
Logs are JSON lines on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore import CandystoreSettings, DeadLetterKeeper, EventStore, Ingestor, StoreResult

CRASH_STATUS = 9
"""Exit status of the injected crash between commit and ack."""


class CrashingStore(EventStore):
    """The real store, whose process exits right after the ``crash_after``-th committed batch of events."""

    crash_after: int | None = None
    committed = 0

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        results = await super().store_batch(envelopes)  # returns once the transaction is committed
        self.committed += 1
        if self.committed == self.crash_after:
            os._exit(CRASH_STATUS)  # no ack leaves the process, no cleanup runs
        return results


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.candystore.fault_ingestor")
    parser.add_argument("broker_url")
    parser.add_argument("database_url", help="postgresql+asyncpg://…")
    parser.add_argument("schema", help="the search_path of every connection")
    parser.add_argument("application_name", help="how the database sessions are named")
    parser.add_argument("--crash-after-batches", type=int, default=None, metavar="N")
    parser.add_argument("--batch-size", type=int, default=500)
    return parser.parse_args(argv)


async def main(options: argparse.Namespace) -> None:
    settings = CandystoreSettings(database_url=options.database_url, batch_size=options.batch_size)
    server_settings = {"search_path": options.schema, "application_name": options.application_name}
    store = CrashingStore.open(settings.sqlalchemy_url, connect_args={"server_settings": server_settings})
    store.crash_after = options.crash_after_batches
    transport = RabbitMQTransport(options.broker_url, connection_name=options.application_name)
    await transport.connect()
    registry = CollectorRegistry()
    ingestor = Ingestor(transport, store, settings=settings, registry=registry)
    keeper = DeadLetterKeeper(transport, store, settings=settings, registry=registry)
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await keeper.start()
    # Said before consuming starts: on a full queue the injected crash may come within start().
    print("ready", server.server_port, flush=True)  # noqa: T201 - the test waits for this line
    await ingestor.start()
    await stop.wait()
    await ingestor.stop(timeout=10)
    await keeper.stop(timeout=10)
    await transport.close()
    await store.close()
    server.shutdown()


if __name__ == "__main__":
    # JSON lines on stderr: the test reads them; stdout carries only the "ready" line.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    asyncio.run(main(arguments(sys.argv[1:])))
