"""The ``visibility`` Typer app: the commands, each defined in the module of its concern, registered here."""

from __future__ import annotations

import typer

from visibility.cli.rules import rules_app
from visibility.cli.serve import serve
from visibility.cli.tools import evaluate_command, patterns_command, simulate_command

__all__ = ["app"]

app = typer.Typer(
    help="The visibility layer: cross-team conflict detection.", no_args_is_help=True, add_completion=False
)
app.command("serve")(serve)
app.command("simulate")(simulate_command)
app.command("evaluate")(evaluate_command)
app.command("patterns")(patterns_command)
app.add_typer(rules_app, name="rules")
