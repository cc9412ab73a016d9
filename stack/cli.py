"""``33god``: run the platform (``up``) and its benchmarks (``bench``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pydantic
import typer
import uvicorn
from rich.console import Console

from bloodbank import BloodbankSettings
from bloodbank.cli import describe_broker
from holyfields.catalog import Catalog, CatalogError
from stack.app import create_app
from stack.bench import BENCHMARKS

app = typer.Typer(help="The 33GOD event platform.", no_args_is_help=True, add_completion=False)
console = Console(highlight=False)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the platform API.")] = 8682,
) -> None:
    """Run the platform in one process: the event gateway and the schema registry, embedded by default."""
    try:
        catalog = Catalog.load()
    except CatalogError as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from exc
    try:
        settings = BloodbankSettings()
    except pydantic.ValidationError as exc:
        console.print(f"invalid BLOODBANK_* settings: {exc}", markup=False)
        raise typer.Exit(1) from exc
    base = f"http://{host}:{port}"
    console.print(f"[bold]33GOD[/bold] serving {len(catalog.event_types)} event types")
    for label, where in (
        ("event bus", describe_broker(settings)),
        ("publish", f"POST {base}/events, POST {base}/events/batch"),
        ("schema registry", f"{base}/schemas"),
        ("API docs", f"{base}/docs"),
        ("health", f"{base}/health/ready"),
        ("metrics", f"{base}/metrics"),
    ):
        console.print(f"  {label:<16} {where}", markup=False, soft_wrap=True)
    console.print("Press Ctrl-C to stop.")
    uvicorn.run(create_app(catalog, settings=settings), host=host, port=port, log_level="warning")


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help=f"Benchmark to run: {', '.join(BENCHMARKS)}.")],
    seconds: Annotated[float, typer.Option(help="Measuring time for each side.")] = 3.0,
) -> None:
    """Run one benchmark against its baseline in the same run; the last line is a JSON object."""
    runner = BENCHMARKS.get(name)
    if runner is None:
        console.print(f"unknown benchmark {name!r}: choose one of {', '.join(BENCHMARKS)}")
        raise typer.Exit(2)
    result = runner(seconds=seconds, console=console)
    print(msgspec.json.encode(result).decode())  # noqa: T201 - the machine-readable last line
