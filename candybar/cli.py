"""``candybar``: serve the monitoring UI alone (``33god up`` serves it with the rest of the platform)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from candybar.server import create_app
from candybar.settings import CandybarSettings
from gumdrop.console import err, logs_on_stderr, read_settings, traces

__all__ = ["app"]

app = typer.Typer(help="Candybar: the 33GOD monitoring UI.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main() -> None:
    """Candybar: the 33GOD monitoring UI."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI.")] = 8684,
) -> None:
    """Serve the UI; it talks to the APIs named by CANDYBAR_GATEWAY_URL, _CANDYSTORE_URL and _VISIBILITY_URL."""
    settings = read_settings(CandybarSettings, err)
    err.print(f"Candybar on http://{host}:{port}")
    for name, url in settings.api_urls.items():
        err.print(f"  {name:<11} {url}")
    with logs_on_stderr(), traces("candybar"):
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
