"""The ``visibility`` Typer app; each command lives in the module of its concern and registers itself here."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="The visibility layer: cross-team conflict detection.", no_args_is_help=True, add_completion=False
)

# Imported for their @app.command() registrations.
from visibility.cli import serve, tools  # noqa: E402, F401
