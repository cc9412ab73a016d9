"""``holyfields``: lint and validate, generate code, check drift, classify changes, list the catalog."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from holyfields import codegen
from holyfields.catalog import Catalog, CatalogError, default_schema_root
from holyfields.compat import compare_directories, compare_with_git_ref
from holyfields.lint import lint_schemas
from holyfields.validation import EventValidator, InvalidEvent

app = typer.Typer(help="Holyfields: the 33GOD schema registry.", no_args_is_help=True, add_completion=False)
# No markup: schema paths and patterns contain brackets ("[a-z0-9]") that must print as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

SchemasOption = Annotated[
    Path | None, typer.Option("--schemas", help="Schema directory (default: the packaged schemas).", show_default=False)
]


def _catalog(schemas: Path | None) -> Catalog:
    try:
        return Catalog.load(schemas)
    except CatalogError as exc:
        for problem in exc.problems:
            err.print(problem)
        raise typer.Exit(1) from exc


@app.command()
def validate(
    files: Annotated[list[Path] | None, typer.Argument(help="Event files to validate ('-' for stdin).")] = None,
    schemas: SchemasOption = None,
) -> None:
    """With no file, lint every schema; with files, validate each event (envelope and payload)."""
    if not files:
        root = schemas or default_schema_root()
        problems = lint_schemas(root)
        for problem in problems:
            out.print(str(problem))
        if problems:
            err.print(f"{len(problems)} problem(s) in the schemas under {root}")
            raise typer.Exit(1)
        count = len(list(root.rglob("*.schema.json")))
        out.print(f"{count} schemas OK")
        return
    validator = EventValidator(_catalog(schemas))
    failed = 0
    for file in files:
        name = "<stdin>" if str(file) == "-" else str(file)
        try:
            raw = sys.stdin.buffer.read() if name == "<stdin>" else file.read_bytes()
        except OSError as exc:
            out.print(f"{name}: cannot read: {exc.strerror}")
            failed += 1
            continue
        try:
            validator.parse(raw)
        except InvalidEvent as exc:
            failed += 1
            for issue in exc.issues:
                out.print(f"{name}: {issue}")
            continue
        out.print(f"{name}: valid")
    if failed:
        raise typer.Exit(1)


@contextmanager
def _generator() -> Iterator[None]:
    """A missing generator, or another version than the pinned one: one line saying what to do, exit code 2."""
    try:
        yield
    except codegen.GeneratorUnavailable as exc:
        err.print(str(exc))
        raise typer.Exit(2) from exc


@app.command()
def generate(
    schemas: SchemasOption = None,
    output: Annotated[Path | None, typer.Option("--out", help="Output folder (default: holyfields/generated).")] = None,
) -> None:
    """Write the generated code (Pydantic, TypeScript and Zod, SQLAlchemy, AsyncAPI) from the schemas."""
    with _generator():
        written = codegen.write(_catalog(schemas), output)
    for path in written:
        out.print(f"wrote {path}")
    out.print(f"{len(written)} file(s) changed" if written else "generated code is up to date")


@app.command()
def check(
    schemas: SchemasOption = None,
    output: Annotated[Path | None, typer.Option("--out", help="Generated folder to check.")] = None,
) -> None:
    """Fail when any generated file differs from what the schemas produce."""
    with _generator():
        found = codegen.drift(_catalog(schemas), output)
    for item in found:
        out.print(str(item))
    if found:
        err.print("generated code is out of date: run `holyfields generate` (never edit generated files by hand)")
        raise typer.Exit(1)
    out.print("generated code matches the schemas")


@app.command()
def diff(
    old: Annotated[
        Path | None, typer.Argument(help="Old schema directory (with --base: the directory to compare).")
    ] = None,
    new: Annotated[Path | None, typer.Argument(help="New schema directory.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Compare the working tree with this git ref.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Classify schema changes (patch, minor, major); fail on a breaking change without a new major."""
    if base is not None:
        if old is not None and new is not None:
            err.print("with --base give at most one directory: the schemas to compare with the ref")
            raise typer.Exit(2)
        try:
            report = compare_with_git_ref(base, old or new or default_schema_root())
        except ValueError as exc:
            err.print(str(exc))
            raise typer.Exit(2) from exc
    elif old is not None and new is not None:
        report = compare_directories(old, new)
    else:
        err.print("give either --base GIT_REF or OLD_DIR NEW_DIR")
        raise typer.Exit(2)
    if as_json:
        out.print(msgspec.json.format(msgspec.json.encode(report.to_json())).decode())
    else:
        out.print(report.render())
    if not report.ok:
        raise typer.Exit(1)


@app.command("list")
def list_types(schemas: SchemasOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the catalog: event type, version, owner, status."""
    catalog = _catalog(schemas)
    rows = [
        {"event_type": str(d.event_type), "version": d.version, "owner": d.owner, "status": d.status}
        for d in catalog.payload_schemas()
    ]
    if as_json:
        out.print(msgspec.json.format(msgspec.json.encode(rows)).decode())
        return
    table = Table("event type", "version", "owner", "status", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["event_type"], row["version"], row["owner"], row["status"])
    out.print(table)
