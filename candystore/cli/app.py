"""The ``candystore`` Typer app: serve, migrate and purge here; events and dead letters in their modules."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy import make_url

from bloodbank import BloodbankSettings
from candystore.cli.common import bloodbank_settings, err, logs_on_stderr, open_bus, open_store, out, settings
from candystore.cli.dead_letters import dlq
from candystore.cli.events import replay, trace
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from candystore.store.migrate import current_revision, upgrade
from gumdrop.console import run_service, traces
from gumdrop.serving import serve_service

__all__ = ["app"]

app = typer.Typer(help="Candystore: the 33GOD event store.", no_args_is_help=True, add_completion=False)
app.add_typer(dlq, name="dlq")
app.command()(trace)
app.command()(replay)


@app.callback()
def _main(context: typer.Context) -> None:
    """Candystore: the 33GOD event store."""
    context.with_resource(logs_on_stderr())


def _where(config: CandystoreSettings) -> str:
    return make_url(config.sqlalchemy_url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port of the API (default CANDYSTORE_PORT, 8683).")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply the migrations before starting.")] = True,
) -> None:
    """Run Candystore alone: the consumer, the dead-letter keeper, retention and the API."""
    config = settings()
    bus_config = bloodbank_settings()
    with traces("candystore"):
        run_service(
            _serve(config, bus_config, host=host, port=port or config.port, migrate=migrate),
            command="candystore serve",
        )


def _print_where(config: CandystoreSettings, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    err.print(f"Candystore on {base}, storing into {_where(config)}")
    err.print(f"  events   {base}/events, {base}/events/trace/{{id}}, {base}/stats, ws://{host}:{port}/events/stream")
    err.print(f"  dead letters {base}/dlq; API docs {base}/docs; health {base}/health/ready")


async def _serve(
    config: CandystoreSettings, bus_config: BloodbankSettings, *, host: str, port: int, migrate: bool
) -> None:
    async with open_bus(bus_config) as bus:
        await serve_service(
            CandystoreService(config, bus),
            host=host,
            port=port,
            name="Candystore API",
            migrate=migrate,
            stop_timeout=bus_config.publish_timeout,
            started=lambda: _print_where(config, host, port),
        )


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Revision to migrate to.")] = "head",
) -> None:
    """Apply the database migrations (a legacy database is upgraded without losing a row)."""
    config = settings()
    revision_now = asyncio.run(_migrate(config, revision))
    out.print(f"{_where(config)} is at revision {revision_now}")


async def _migrate(config: CandystoreSettings, revision: str) -> str | None:
    async with open_store(config) as store:
        await upgrade(store.engine, revision)
        return await current_revision(store.engine)


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the retention that would apply.")] = False,
) -> None:
    """Delete events older than their retention (CANDYSTORE_RETENTION_DAYS, by event-type pattern)."""
    config = settings()
    for pattern, days in sorted(config.retention_days.items()):
        err.print(f"retention {pattern}: {days} days")
    if dry_run:
        return
    deleted = asyncio.run(_purge(config))
    if not deleted:
        out.print("nothing to delete")
    for event_type, count in sorted(deleted.items()):
        out.print(f"{event_type}: {count} deleted")


async def _purge(config: CandystoreSettings) -> dict[str, int]:
    async with open_store(config) as store:
        return await store.purge(config.retention_days)
