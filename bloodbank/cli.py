"""``bloodbank``: run the gateway, publish from the shell, follow live events, declare or verify the topology.

Every command reads its settings from ``BLOODBANK_*``. Exit codes: 0 done; 1 invalid input,
invalid settings or a topology mismatch; 2 the broker cannot be reached.

With the embedded broker (no ``BLOODBANK_BROKER_URL``) one process owns the bus at a time,
so ``publish``, ``tail`` and ``topology`` work when no gateway runs on the same data
directory; with RabbitMQ they work beside it.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bloodbank.bus import Bus, create_transport
from bloodbank.errors import BrokerUnavailable, PublishFailed, TopologyMismatch
from bloodbank.gateway import create_gateway
from bloodbank.settings import BloodbankSettings
from bloodbank.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    MAIN_EXCHANGE,
    SHARED_CONSUMERS,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
)
from bloodbank.transport import Delivery, Transport
from gumdrop.console import EXIT_INVALID, logs_on_stderr, read_settings, traces
from gumdrop.serving import Listener, PortUnavailable, serve_apps, tune_collector
from gumdrop.unavailable import SettingRefused
from holyfields import InvalidEvent, ValidationIssue
from holyfields.validation import decode_json
from holyfields.wildcards import InvalidPattern, TypePattern

__all__ = ["EXIT_INVALID", "EXIT_UNAVAILABLE", "TailPrinter", "app", "describe_broker", "follow"]

EXIT_UNAVAILABLE = 2

app = typer.Typer(help="Bloodbank: the 33GOD event bus.", no_args_is_help=True, add_completion=False)
# No markup: event types, payloads and error messages may contain brackets that must print as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@app.callback()
def _main(context: typer.Context) -> None:
    """Bloodbank: the 33GOD event bus."""
    context.with_resource(logs_on_stderr())


def _settings() -> BloodbankSettings:
    return read_settings(BloodbankSettings, err)


def describe_broker(settings: BloodbankSettings) -> str:
    """Which broker the settings point at, without the password."""
    if not settings.broker_url:
        return f"embedded broker at {settings.embedded_path}"
    url = urlsplit(settings.broker_url)
    host = url.hostname or "localhost"
    where = f"{host}:{url.port}" if url.port else host
    return f"RabbitMQ at {url.scheme}://{where}{url.path or '/'}"


def _unavailable(exc: Exception, settings: BloodbankSettings) -> typer.Exit:
    err.print(f"cannot reach the broker ({describe_broker(settings)}): {exc}")
    return typer.Exit(EXIT_UNAVAILABLE)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the gateway.")] = 8682,
) -> None:
    """Run the HTTP gateway (POST /events, /events/batch, /schemas, health, metrics)."""
    settings = _settings()
    base = f"http://{host}:{port}"
    err.print(f"Bloodbank gateway on {base} ({describe_broker(settings)})")
    err.print(f"  publish   POST {base}/events, POST {base}/events/batch")
    err.print(f"  API docs  {base}/docs")
    err.print(f"  health    {base}/health/ready, metrics {base}/metrics")
    try:
        with traces("bloodbank"):
            asyncio.run(_serve(settings, host=host, port=port))
    except (TopologyMismatch, SettingRefused) as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    except BrokerUnavailable as exc:
        raise _unavailable(exc, settings) from exc
    except PortUnavailable as exc:
        err.print(f"bloodbank serve failed: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc


async def _serve(settings: BloodbankSettings, *, host: str, port: int) -> None:
    bus = await Bus.start(settings)
    try:
        gateway = create_gateway(settings, bus=bus)
        tune_collector()
        await serve_apps([Listener(gateway, host, port, "Bloodbank gateway")])
    finally:
        await bus.close()


@app.command()
def publish(
    event_type: Annotated[str, typer.Argument(help="Event type, e.g. retail.offer.surfaced.v1.")],
    payload: Annotated[str, typer.Option(help="The payload: a JSON object, or @FILE (@- for stdin).")],
    correlation_id: Annotated[
        list[str] | None, typer.Option("--correlation-id", help="Id of a parent event (repeat for several).")
    ] = None,
) -> None:
    """Publish one event; print its id once the broker confirmed it."""
    settings = _settings()
    document = _read_payload(payload)
    try:
        event_id = asyncio.run(_publish(settings, event_type, document, correlation_id or []))
    except InvalidEvent as exc:
        _print_issues(exc.issues)
        raise typer.Exit(EXIT_INVALID) from exc
    except SettingRefused as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    except (BrokerUnavailable, PublishFailed) as exc:
        raise _unavailable(exc, settings) from exc
    out.print(event_id)


def _read_payload(argument: str) -> dict[str, Any]:
    if argument.startswith("@"):
        name = argument[1:]
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            err.print(f"cannot read the payload file {name}: {exc.strerror}")
            raise typer.Exit(EXIT_INVALID) from exc
    else:
        raw = argument.encode()
    try:
        payload = decode_json(raw)
    except ValueError as exc:
        _print_issues([ValidationIssue("$.payload", f"not valid JSON: {exc}")])
        raise typer.Exit(EXIT_INVALID) from exc
    if not isinstance(payload, dict):
        kind = "array" if isinstance(payload, list) else type(payload).__name__
        _print_issues([ValidationIssue("$.payload", f"expected an object, got {kind}")])
        raise typer.Exit(EXIT_INVALID)
    return payload


async def _publish(
    settings: BloodbankSettings, event_type: str, payload: dict[str, Any], correlation_ids: Sequence[str]
) -> str:
    source = {"host": socket.gethostname(), "type": "manual", "app": settings.source_app}
    bus = await Bus.start(settings, source=source)
    try:
        return await bus.publish(event_type, payload, correlation_ids=correlation_ids)
    finally:
        await bus.close(timeout=5)


def _print_issues(issues: Sequence[ValidationIssue]) -> None:
    for issue in issues:
        err.print(str(issue))


@app.command()
def tail(
    patterns: Annotated[
        list[str] | None, typer.Argument(help="Binding patterns, e.g. 'retail.#' or '*.*.*.v1' (default: '#').")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON envelope per line instead of a summary.")] = False,
) -> None:
    """Follow live events through a temporary queue; Ctrl-C stops."""
    for pattern in patterns or ():
        try:
            TypePattern.parse(pattern)
        except InvalidPattern as exc:
            err.print(str(exc))
            raise typer.Exit(EXIT_INVALID) from exc
    settings = _settings()
    try:
        asyncio.run(_follow(settings, patterns or ["#"], TailPrinter(out, as_json=as_json, count=count)))
    except SettingRefused as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    except BrokerUnavailable as exc:
        raise _unavailable(exc, settings) from exc
    except KeyboardInterrupt:
        err.print("stopped")


async def _follow(settings: BloodbankSettings, patterns: Sequence[str], printer: TailPrinter) -> None:
    transport = create_transport(settings, connection_name="bloodbank-tail")
    await transport.connect()
    try:
        await transport.declare_topology()  # the exchange must exist before a queue binds to it
        await follow(transport, patterns, printer, where=describe_broker(settings))
    finally:
        await transport.close()


async def follow(transport: Transport, patterns: Sequence[str], printer: TailPrinter, *, where: str = "") -> None:
    """Print the events matching ``patterns`` until the printer has its count, or until cancelled (Ctrl-C)."""
    subscription = await transport.tail(patterns, printer)
    err.print(f"following {' '.join(patterns)} on the {where or transport.name} (Ctrl-C to stop)")
    try:
        await printer.finished.wait()
    finally:
        await subscription.stop(timeout=5)


class TailPrinter:
    """Prints each live event as one line (time, type, id, source app, compact payload) or as one JSON object."""

    def __init__(self, console: Console, *, as_json: bool = False, count: int | None = None) -> None:
        self.console = console
        self.as_json = as_json
        self.count = count
        self.printed = 0
        self.finished = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        if self.finished.is_set():
            return
        self._print(delivery)
        self.printed += 1
        if self.count is not None and self.printed >= self.count:
            self.finished.set()

    def _print(self, delivery: Delivery) -> None:
        try:
            envelope = decode_json(delivery.body)
        except ValueError:
            envelope = None
        if self.as_json:
            line = msgspec.json.encode(envelope).decode() if envelope is not None else delivery.body.decode("replace")
            self.console.file.write(line + "\n")
            self.console.file.flush()
            return
        self.console.print(self.summary(delivery, envelope), soft_wrap=not self.console.is_terminal)

    def summary(self, delivery: Delivery, envelope: Any) -> Text:
        if not isinstance(envelope, dict):
            return Text.assemble(
                ("undecodable ", "bold red"), (delivery.routing_key, "bold"), " ", (str(delivery.message_id), "dim")
            )
        source = envelope.get("source")
        app_name = source.get("app", "?") if isinstance(source, dict) else str(source)
        line = Text.assemble(
            (_clock(envelope.get("timestamp")), "dim"),
            "  ",
            (str(envelope.get("event_type", delivery.routing_key)), "bold cyan"),
            "  ",
            (str(envelope.get("event_id", delivery.message_id)), "dim"),
            "  ",
            (str(app_name), "green"),
            "  ",
            msgspec.json.encode(envelope.get("payload")).decode(),
            no_wrap=True,
            overflow="ellipsis",
        )
        if self.console.is_terminal:
            line.truncate(self.console.width, overflow="ellipsis")
        return line


def _clock(timestamp: object) -> str:
    """``2026-11-02T14:03:27.512Z`` → ``14:03:27.512`` (UTC); anything else as it is."""
    if not isinstance(timestamp, str):
        return "?"
    try:
        moment = datetime.fromisoformat(timestamp).astimezone(UTC)
    except ValueError:
        return timestamp
    return moment.strftime("%H:%M:%S.%f")[:-3]


@app.command()
def topology(
    verify: Annotated[bool, typer.Option("--verify", help="Only check that it exists as declared; change nothing.")] = (
        False
    ),
) -> None:
    """Declare the shared exchanges and queues, `candystore.events` among them (or verify them); print what exists."""
    settings = _settings()
    try:
        depths = asyncio.run(_topology(settings, verify=verify))
    except (TopologyMismatch, SettingRefused) as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    except BrokerUnavailable as exc:
        raise _unavailable(exc, settings) from exc
    table = Table(title=f"Topology on the {describe_broker(settings)}", title_justify="left")
    for column in ("object", "name", "kind", "messages"):
        table.add_column(column)
    table.add_row("main exchange", MAIN_EXCHANGE, "topic, alternate-exchange " + UNROUTED_EXCHANGE, "")
    table.add_row("unroutable catch", UNROUTED_EXCHANGE, "fanout", "")
    table.add_row("unroutable queue", UNROUTED_QUEUE, "quorum", str(depths[UNROUTED_QUEUE]))
    table.add_row("dead-letter exchange", DEAD_LETTER_EXCHANGE, "topic", "")
    table.add_row("dead-letter queue", DEAD_LETTER_QUEUE, "quorum, bound with #", str(depths[DEAD_LETTER_QUEUE]))
    for spec in SHARED_CONSUMERS:
        bindings = ", ".join(spec.bindings)
        table.add_row("consumer queue", spec.name, f"quorum, bound with {bindings}", str(depths[spec.name]))
    # Piped output has no width to fit: print the table unwrapped.
    (out if out.is_terminal else Console(file=out.file, width=160, highlight=False, markup=False)).print(table)
    out.print("verified: it exists as declared" if verify else "declared")


async def _topology(settings: BloodbankSettings, *, verify: bool) -> dict[str, int]:
    transport: Transport = create_transport(settings, connection_name="bloodbank-topology")
    await transport.connect()
    try:
        await transport.declare_topology(verify_only=verify)
        queues = (UNROUTED_QUEUE, DEAD_LETTER_QUEUE, *(spec.name for spec in SHARED_CONSUMERS))
        return {queue: await transport.queue_depth(queue) for queue in queues}
    finally:
        await transport.close()
