"""``33god``: run the platform (``up``), its benchmarks (``bench``) and make API keys (``keys new``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from bloodbank import BloodbankSettings
from bloodbank.cli import describe_broker
from candystore import CandystoreSettings
from gumdrop.console import err, logs_on_stderr, read_settings, run_service, traces
from gumdrop.principals import Scope, hash_key, new_key
from gumdrop.settings import AccessSettings
from holyfields.catalog import Catalog, CatalogError
from stack.bench import BENCHMARKS
from stack.bench.plot import PlotUnavailable, ensure_plotting, plot_figures
from stack.platform import PlatformOptions, PlatformSettings, describe_database, run_platform
from visibility.settings import VisibilitySettings

app = typer.Typer(help="The 33GOD event platform.", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)


@app.command()
def up(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the event gateway and schema registry.")] = 8682,
    candystore_port: Annotated[int, typer.Option(help="Port of the Candystore API.")] = 8683,
    candybar_port: Annotated[int, typer.Option(help="Port of the Candybar UI.")] = 8684,
    visibility_port: Annotated[int, typer.Option(help="Port of the visibility API.")] = 8685,
    demo: Annotated[bool, typer.Option("--demo", help="Publish realistic demo traffic, some of it failing.")] = False,
    demo_rate: Annotated[float, typer.Option(help="Demo flows per second.", min=0.01)] = 2.0,
    receiver_port: Annotated[int, typer.Option(help="Port of the demo's delivery receiver (with --demo).")] = 8686,
) -> None:
    """Run the platform in one process: gateway, registry, Candystore, visibility and the UI, embedded by default."""
    try:
        catalog = Catalog.load()
    except CatalogError as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from exc
    settings = PlatformSettings(
        read_settings(BloodbankSettings, err),
        read_settings(CandystoreSettings, err),
        read_settings(VisibilitySettings, err),
        read_settings(AccessSettings, err),
    )
    options = PlatformOptions(
        host=host,
        gateway_port=port,
        candystore_port=candystore_port,
        candybar_port=candybar_port,
        visibility_port=visibility_port,
        demo=demo,
        demo_rate=demo_rate,
        receiver_port=receiver_port,
    )

    def ready() -> None:
        _print_urls(options, catalog, settings)

    with logs_on_stderr(logging.INFO), traces("33god"):
        run_service(run_platform(options, catalog=catalog, settings=settings, ready=ready), command="33god up")
    console.print("stopped; every accepted event is stored or still queued for the next start")


def _print_urls(options: PlatformOptions, catalog: Catalog, settings: PlatformSettings) -> None:
    gateway = f"http://{options.host}:{options.gateway_port}"
    store = f"http://{options.host}:{options.candystore_port}"
    visibility = f"http://{options.host}:{options.visibility_port}"
    console.print(f"[bold]33GOD[/bold] serving {len(catalog.event_types)} event types")
    for label, where in (
        ("monitoring UI", f"http://{options.host}:{options.candybar_port}"),
        ("event bus", describe_broker(settings.bloodbank)),
        ("event store", describe_database(settings.candystore)),
        ("publish", f"POST {gateway}/events, POST {gateway}/events/batch"),
        ("schema registry", f"{gateway}/schemas, {gateway}/asyncapi.json"),
        ("webhooks", f"POST {gateway}/webhooks/github, POST {gateway}/webhooks/n8n"),
        ("events", f"{store}/events, {store}/events/trace/{{id}}, {store}/stats"),
        ("live stream", f"ws://{options.host}:{options.candystore_port}/events/stream"),
        ("dead letters", f"{store}/dlq"),
        ("subscriptions", f"{store}/subscriptions"),
        ("conflicts", f"{visibility}/conflicts, {visibility}/okr"),
        ("API docs", f"{gateway}/docs, {store}/docs, {visibility}/docs"),
        ("health", f"{gateway}/health/ready, {store}/health/ready, {visibility}/health/ready"),
        ("metrics", f"{gateway}/metrics, {store}/metrics, {visibility}/metrics"),
    ):
        console.print(f"  {label:<16} {where}", markup=False, soft_wrap=True)
    if options.demo:
        console.print(f"  {'demo traffic':<16} {options.demo_rate:g} flows/s", markup=False)
        receiver = f"http://{options.host}:{options.receiver_port}/deliveries"
        console.print(
            f"  {'demo webhooks':<16} pull requests signed into {gateway}/webhooks/github, github.* delivered to "
            f"{receiver} (subscription demo-receiver)",
            markup=False,
            soft_wrap=True,
        )
    console.print("Press Ctrl-C to stop.")


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help=f"Benchmark to run: {', '.join(BENCHMARKS)}.")],
    seconds: Annotated[float, typer.Option(help="Measuring time for each side.")] = 3.0,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw the figures into this file (FILE.png).", dir_okay=False)
    ] = None,
) -> None:
    """Run one benchmark against its baseline in the same run; the last line is a JSON object."""
    runner = BENCHMARKS.get(name)
    if runner is None:
        console.print(f"unknown benchmark {name!r}: choose one of {', '.join(BENCHMARKS)}")
        raise typer.Exit(2)
    if plot is not None:
        try:
            ensure_plotting()  # before the run, not after minutes of it
        except PlotUnavailable as exc:
            console.print(str(exc), markup=False)
            raise typer.Exit(2) from exc
    result = runner(seconds=seconds, console=console)
    unplotted = False
    if plot is not None:
        try:
            console.print(f"figures drawn in {plot_figures(result, plot)}", markup=False)
        except PlotUnavailable as exc:
            console.print(str(exc), markup=False)
            unplotted = True
    print(msgspec.json.encode(result).decode())  # noqa: T201 - the machine-readable last line, plotted or not
    if unplotted:
        raise typer.Exit(1)


keys = typer.Typer(help="API keys for PLATFORM_KEYS_FILE.", no_args_is_help=True)
app.add_typer(keys, name="keys")

_SCOPE_NAMES = ", ".join(scope.value for scope in Scope)


@keys.command("new")
def new_key_command(
    client: Annotated[str, typer.Argument(help="The client the key is for, e.g. ops or visibility.")],
    scopes: Annotated[str, typer.Option(help=f"Comma-separated scopes: {_SCOPE_NAMES}.")] = "read",
) -> None:
    """Make a new API key: print it once (give it to the client) and the keys-file entry holding its hash."""
    wanted = [part.strip() for part in scopes.split(",") if part.strip()]
    unknown = [name for name in wanted if name not in {scope.value for scope in Scope}]
    if unknown or not wanted:
        err.print(f"invalid --scopes {scopes!r}: choose from {_SCOPE_NAMES}")
        raise typer.Exit(1)
    key = new_key()
    err.print("The key (shown once; the keys file keeps only its hash):")
    console.print(key, markup=False)
    err.print("Its entry in PLATFORM_KEYS_FILE (add the hash to an existing client's keys to rotate):")
    err.print(f"clients:\n  {client}:\n    scopes: [{', '.join(wanted)}]\n    keys: ['{hash_key(key)}']")
