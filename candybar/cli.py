"""``candybar``: serve the monitoring UI alone (``33god up`` serves it with the rest of the platform)."""

from __future__ import annotations

import sys
from typing import Annotated

import pydantic
import structlog
import typer
import uvicorn
from rich.console import Console

from candybar.server import create_app
from candybar.settings import CandybarSettings

__all__ = ["app"]

EXIT_INVALID = 1

app = typer.Typer(help="Candybar: the 33GOD monitoring UI.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@app.callback()
def _main() -> None:
    """Candybar: the 33GOD monitoring UI."""


def _settings() -> CandybarSettings:
    try:
        return CandybarSettings()
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            name = "CANDYBAR_" + "_".join(str(part) for part in error["loc"]).upper()
            err.print(f"invalid setting {name}: {error['msg']}")
        raise typer.Exit(EXIT_INVALID) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI.")] = 8684,
) -> None:
    """Serve the UI; it talks to the APIs named by CANDYBAR_GATEWAY_URL, _CANDYSTORE_URL and _VISIBILITY_URL."""
    settings = _settings()
    _plain_tracebacks()
    ui = create_app(settings)
    err.print(f"Candybar on http://{host}:{port}")
    for name, url in settings.api_urls.items():
        err.print(f"  {name:<11} {url}")
    uvicorn.run(ui, host=host, port=port, log_level="warning")


def _plain_tracebacks() -> None:
    """Log errors on stderr with plain tracebacks: never the local variables of their frames (request data)."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
