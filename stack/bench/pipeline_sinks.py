"""The consuming side of ``33god bench pipeline``, each in a process of its own, as a store runs in production.

``ours``: Candystore's :class:`~candystore.Ingestor` consuming ``candystore.events`` into
an :class:`~candystore.EventStore` on PostgreSQL. ``faststream``: a FastStream subscriber
on a quorum queue inserting each event with one asyncpg ``INSERT``. Both note the wall
time right after each commit, and report, phase by phase, when the expected number of
events was committed and how long each took from its envelope timestamp to that commit.

:func:`start_sink` starts one (:func:`main` in a fresh interpreter, given its configuration as
JSON), which reports on its stdout, one JSON object a line: ``{"kind": "ready"}`` once
consuming, then ``{"kind": "phase", "result": …}`` each time a phase's events are all
committed, or ``{"kind": "error", "text": …}``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from tempfile import TemporaryFile
from typing import IO, Any, Literal

import asyncpg
import msgspec
import structlog
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore import CandystoreSettings, EventStore, Ingestor, Outcome, StoreResult
from candystore.store.writes import normalise_timestamp
from gumdrop.serving import tune_collector
from gumdrop.telemetry import force_tracing
from stack.bench.otlp_collector import export_traces_to
from stack.bench.sandbox import BenchSchema

__all__ = [
    "FASTSTREAM_EXCHANGE",
    "FASTSTREAM_QUEUE",
    "FASTSTREAM_TABLE",
    "PhaseResult",
    "Sink",
    "SinkConfig",
    "main",
    "start_sink",
]

FASTSTREAM_EXCHANGE = "bench.faststream"
FASTSTREAM_QUEUE = "bench.faststream.events"
FASTSTREAM_TABLE = "faststream_events"
SINK_TIMEOUT = 180.0
"""Seconds a sink may take to start or to commit a phase before the run is called failed."""
SINK_COMMAND = "import sys; from stack.bench.pipeline_sinks import main; sys.exit(main(sys.argv[1:]))"
REPORT_LIMIT = 2**24
"""Bytes of one report line (a phase's latencies) the benchmark reads at most."""

_INSERT = (
    f"INSERT INTO {FASTSTREAM_TABLE} (event_id, event_type, timestamp, document) "  # noqa: S608 - a constant name
    "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING"
)


@dataclass(frozen=True)
class SinkConfig:
    """What a sink process needs: where to consume from and store to, and how many events each phase brings."""

    kind: Literal["ours", "faststream"]
    amqp_url: str
    schema: BenchSchema
    phases: tuple[int, ...]
    queue: str
    """The queue it consumes: Candystore's consumer queue, or FastStream's."""
    prefetch: int
    batch_size: int = 500
    batch_wait: float = 0.005
    writers: int = 2
    otlp_endpoint: str | None = None
    """Where the sink exports its spans (``ours`` only), during the phases ``traced`` marks."""
    traced: tuple[bool, ...] = ()


@dataclass(frozen=True)
class PhaseResult:
    """One phase as the sink saw it: wall times (``time.time()``) of its first and last commit, and latencies."""

    events: int
    first_commit: float
    last_commit: float
    latencies: list[float] = field(default_factory=list)
    """Seconds from each event's envelope timestamp to the commit that stored it."""


# --- the benchmark's side ----------------------------------------------------------------


class Sink:
    """A sink process, reading its reports (one JSON object a line on its stdout)."""

    def __init__(self, process: asyncio.subprocess.Process, kind: str, errors: IO[bytes]) -> None:
        self._process = process
        self._errors = errors
        self.kind = kind

    async def _receive(self, expected: str) -> dict[str, Any]:
        assert self._process.stdout is not None  # noqa: S101 - started with stdout=PIPE
        while True:
            try:
                line = await asyncio.wait_for(self._process.stdout.readline(), SINK_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(f"the {self.kind} sink reported nothing for {SINK_TIMEOUT:g} s") from None
            if not line:
                self._errors.seek(0)
                stderr = self._errors.read().decode(errors="replace")[-4000:]
                raise RuntimeError(f"the {self.kind} sink exited before reporting {expected!r}:\n{stderr}")
            if not line.startswith(b'{"kind"'):
                continue  # something else wrote to stdout: not a report
            report: dict[str, Any] = msgspec.json.decode(line)
            if report["kind"] == "error":
                raise RuntimeError(f"the {self.kind} sink failed:\n{report['text']}")
            return report

    async def ready(self) -> None:
        await self._receive("ready")

    async def phase(self) -> PhaseResult:
        report = await self._receive("phase")
        return msgspec.convert(report["result"], PhaseResult)


@asynccontextmanager
async def start_sink(config: SinkConfig) -> AsyncIterator[Sink]:
    """The sink in a process of its own (a fresh interpreter, as a service starts), stopped afterwards."""
    with TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SINK_COMMAND,
            msgspec.json.encode(config).decode(),
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            limit=REPORT_LIMIT,
        )
        try:
            yield Sink(process, config.kind, errors)
        except BaseException:
            if process.returncode is None:  # the run failed: the sink would wait for events forever
                process.terminate()
            raise
        finally:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.terminate()
                await process.wait()


# --- the sink's side ---------------------------------------------------------------------


class _Recorder:
    """Counts committed events against the current phase's target and keeps their commit times."""

    def __init__(self, phases: Sequence[int]) -> None:
        self._targets = list(phases)
        self._commits: list[tuple[float, list[str]]] = []
        self._count = 0
        self.reached = asyncio.Event()

    def committed(self, at: float, timestamps: list[str]) -> None:
        if not timestamps:
            return
        self._commits.append((at, timestamps))
        self._count += len(timestamps)
        if self._targets and self._count >= self._targets[0]:
            self.reached.set()

    def take(self) -> PhaseResult:
        """The phase just reached; the recorder then counts towards the next one."""
        commits, self._commits, self._count = self._commits, [], 0
        self._targets.pop(0)
        self.reached.clear()
        latencies = [at - normalise_timestamp(stamp)[1].timestamp() for at, stamps in commits for stamp in stamps]
        return PhaseResult(len(latencies), commits[0][0], commits[-1][0], latencies)


class _RecordingStore(EventStore):
    """The store, noting the wall time right after each batch's commit in its ``recorder``."""

    recorder: _Recorder

    async def store_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[StoreResult]:
        results = await super().store_batch(envelopes)
        stored = [str(e["timestamp"]) for e, r in zip(envelopes, results, strict=True) if r.outcome is Outcome.STORED]
        self.recorder.committed(time.time(), stored)
        return results


def _report(kind: str, **fields: Any) -> None:
    sys.stdout.buffer.write(msgspec.json.encode({"kind": kind, **fields}) + b"\n")
    sys.stdout.flush()


async def _phases(config: SinkConfig, recorder: _Recorder) -> None:
    _report("ready")
    for number in range(len(config.phases)):
        force_tracing(enabled=number < len(config.traced) and config.traced[number])
        await recorder.reached.wait()
        _report("phase", result=recorder.take())


async def _ours(config: SinkConfig) -> None:
    recorder = _Recorder(config.phases)
    transport = RabbitMQTransport(config.amqp_url, connection_name="bench-candystore")
    store = _RecordingStore.open(config.schema.sqlalchemy_url, connect_args=config.schema.connect_args)
    store.recorder = recorder
    settings = CandystoreSettings(
        database_url=config.schema.sqlalchemy_url,
        batch_size=config.batch_size,
        batch_wait=config.batch_wait,
        writers=config.writers,
    )
    spec = ConsumerSpec(config.queue, ("#",))
    ingestor = Ingestor(transport, store, settings=settings, registry=CollectorRegistry(), spec=spec)
    provider = export_traces_to(config.otlp_endpoint, "candystore") if config.otlp_endpoint else None
    await transport.connect()
    try:
        await ingestor.start()
        tune_collector()  # as `candystore serve` does after start-up
        await _phases(config, recorder)
    finally:
        await ingestor.stop(timeout=10)
        await transport.close()
        await store.close()
        if provider is not None:
            provider.shutdown()


async def _faststream(config: SinkConfig) -> None:
    # Imported here: FastStream is the baseline's library, needed only by this process.
    from faststream.rabbit import (  # noqa: PLC0415
        Channel,
        ExchangeType,
        QueueType,
        RabbitBroker,
        RabbitExchange,
        RabbitQueue,
    )

    recorder = _Recorder(config.phases)
    pool = await asyncpg.create_pool(config.schema.dsn, server_settings=config.schema.server_settings)
    broker = RabbitBroker(config.amqp_url, logger=None, default_channel=Channel(prefetch_count=config.prefetch))
    exchange = RabbitExchange(FASTSTREAM_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
    queue = RabbitQueue(config.queue, queue_type=QueueType.QUORUM, routing_key="#")

    @broker.subscriber(queue, exchange)
    async def store(event: dict[str, Any]) -> None:
        await pool.execute(
            _INSERT,
            uuid.UUID(event["event_id"]),
            event["event_type"],
            datetime.fromisoformat(event["timestamp"]),
            msgspec.json.encode(event).decode(),
        )
        recorder.committed(time.time(), [event["timestamp"]])

    try:
        await broker.start()
        await _phases(config, recorder)
    finally:
        await broker.stop()
        await pool.close()


def main(argv: Sequence[str]) -> int:
    """Consume until every phase of the configuration (JSON, the first argument) is committed."""
    # stdout carries the reports: problems go to stderr, and only from warnings up.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        config = msgspec.json.decode(argv[0], type=SinkConfig)
        asyncio.run(_ours(config) if config.kind == "ours" else _faststream(config))
    except BaseException:  # noqa: BLE001 - whatever stops the sink, the benchmark must hear why
        _report("error", text=traceback.format_exc())
        return 1
    return 0
