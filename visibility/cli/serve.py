"""``visibility serve``: the detector, the lifecycle timers, alerts and the API, with a bus of its own."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import make_url

from bloodbank import BloodbankSettings, Bus
from gumdrop.console import EXIT_INVALID, err, logs_on_stderr, read_settings, run_service, traces
from gumdrop.serving import serve_service
from visibility.rules import RulesError
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port of the API (default VISIBILITY_PORT, 8685).")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply the migrations before starting.")] = True,
) -> None:
    """Run the visibility layer alone: the detector, escalations, alerts and the API."""
    config = read_settings(VisibilitySettings, err)
    bus_config = read_settings(BloodbankSettings, err)
    with logs_on_stderr(), traces("visibility"):
        try:
            run_service(
                _serve(config, bus_config, host=host, port=port or config.port, migrate=migrate),
                command="visibility serve",
            )
        except RulesError as exc:
            err.print(str(exc))
            raise typer.Exit(EXIT_INVALID) from exc


def _print_where(config: VisibilitySettings, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    where = make_url(config.sqlalchemy_url).render_as_string(hide_password=True)
    err.print(f"Visibility on {base}, conflicts in {where}")
    err.print(f"  conflicts {base}/conflicts, OKR {base}/okr; API docs {base}/docs; health {base}/health/ready")
    if not config.slack_webhook_url:
        err.print("  alerting is off (VISIBILITY_SLACK_WEBHOOK_URL is not set)")


async def _serve(
    config: VisibilitySettings, bus_config: BloodbankSettings, *, host: str, port: int, migrate: bool
) -> None:
    async with await Bus.start(bus_config) as bus:
        await serve_service(
            VisibilityService(config, bus),
            host=host,
            port=port,
            name="visibility API",
            migrate=migrate,
            stop_timeout=bus_config.publish_timeout,
            started=lambda: _print_where(config, host, port),
        )
