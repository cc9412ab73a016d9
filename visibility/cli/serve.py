"""``visibility serve``: the detector, the lifecycle timers, alerts and the API, with a bus of its own."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import make_url

from bloodbank import BloodbankSettings, Bus
from bloodbank.errors import BrokerUnavailable
from gumdrop.console import EXIT_INVALID, logs_on_stderr, read_settings
from gumdrop.serving import Listener, PortUnavailable, serve_apps, tune_collector
from visibility.cli.app import app
from visibility.rules import RulesError
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings
from visibility.store import StoreError

__all__ = ["serve"]

EXIT_UNAVAILABLE = 2

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port of the API (default VISIBILITY_PORT, 8685).")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply the migrations before starting.")] = True,
) -> None:
    """Run the visibility layer alone: the detector, escalations, alerts and the API."""
    config = read_settings(VisibilitySettings, err)
    bus_config = read_settings(BloodbankSettings, err)
    port = port or config.port
    base = f"http://{host}:{port}"
    where = make_url(config.sqlalchemy_url).render_as_string(hide_password=True)
    err.print(f"Visibility on {base}, conflicts in {where}")
    err.print(f"  conflicts {base}/conflicts, OKR {base}/okr; API docs {base}/docs; health {base}/health/ready")
    if not config.slack_webhook_url:
        err.print("  alerting is off (VISIBILITY_SLACK_WEBHOOK_URL is not set)")
    with logs_on_stderr():
        try:
            asyncio.run(_serve(config, bus_config, host=host, port=port, migrate=migrate))
        except RulesError as exc:
            err.print(str(exc))
            raise typer.Exit(EXIT_INVALID) from exc
        except (StoreError, PortUnavailable, BrokerUnavailable) as exc:
            err.print(f"visibility serve failed: {exc}")
            raise typer.Exit(EXIT_UNAVAILABLE) from exc


async def _serve(
    config: VisibilitySettings, bus_config: BloodbankSettings, *, host: str, port: int, migrate: bool
) -> None:
    try:
        bus = await Bus.start(bus_config)
    except BrokerUnavailable:
        if not bus_config.broker_url:
            err.print("The embedded broker serves one process at a time: stop `33god up` on this data directory.")
        raise
    try:
        service = VisibilityService(config, bus)
        await service.start(migrate=migrate)
        tune_collector()
        try:
            await serve_apps([Listener(service.api, host, port, "visibility API")])
        finally:
            await service.stop(timeout=bus_config.publish_timeout)
    finally:
        await bus.close()
