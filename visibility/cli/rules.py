"""``visibility rules check / test``: validate a rules file, and show which conflicts it would open on sample events.

``test`` runs the rule engine the detector runs, in memory, over events in a JSON Lines
file (one envelope per line, in arrival order; each validated against its schema, an
event id seen before dropped as the bus drops redeliveries) and prints each conflict the
first time it opens, then what was counted. Nothing is stored or published. Exit codes:
0 done; 1 an invalid rules file or events file (every problem printed with its path or
line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from holyfields import default_validator
from visibility.domain.detection import DetectionCounts, DetectionEngine, Finding
from visibility.rules import RulesError, RuleSet, load_rules

__all__ = ["rules_app"]

EXIT_INVALID = 1

out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

rules_app = typer.Typer(help="Check a rules file, and try it on sample events.", no_args_is_help=True)


def _load(path: Path) -> RuleSet:
    try:
        return load_rules(path)
    except RulesError as exc:
        for issue in exc.issues:
            err.print(f"{exc.source}: {issue}")
        raise typer.Exit(EXIT_INVALID) from exc


@rules_app.command("check")
def check_command(file: Annotated[Path, typer.Argument(help="The rules file (YAML).")]) -> None:
    """Validate a rules file as the detector does at start and on a change; print its rules."""
    rules = _load(file)
    for rule in rules.rules:
        out.print(f"{rule.id} v{rule.version}: {rule.compare.form} on {', '.join(rule.entity)} ({rule.severity})")


@dataclass(frozen=True, slots=True)
class _Sample:
    line: int
    event_id: str
    event_type: str
    payload: dict[str, Any]


def _read_events(path: Path) -> list[_Sample]:
    """The events of a JSON Lines file, each checked against its schema; exits naming every bad line."""
    validator = default_validator()
    samples: list[_Sample] = []
    problems: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _fail(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            envelope = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            problems.append(f"{path}:{number}: not JSON: {exc}")
            continue
        issues = validator.validate(envelope)
        if issues:
            problems.extend(f"{path}:{number}: {issue}" for issue in issues)
            continue
        samples.append(_Sample(number, envelope["event_id"], envelope["event_type"], envelope["payload"]))
    if problems:
        for problem in problems:
            err.print(problem)
        raise typer.Exit(EXIT_INVALID)
    return samples


def _fail(message: str) -> typer.Exit:
    err.print(message)
    return typer.Exit(EXIT_INVALID)


@rules_app.command("test")
def try_on_events_command(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML).")],
    events: Annotated[Path, typer.Option(help="Sample events: one envelope per line (JSON Lines), in arrival order.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Show which conflicts the rules would open on the sample events (nothing is stored or published)."""
    rules = _load(file)
    samples = _read_events(events)
    engine = DetectionEngine(rules)
    seen: set[str] = set()
    opened: dict[tuple[Any, ...], tuple[int, Finding]] = {}
    for sample in samples:
        if sample.event_id in seen:
            continue
        seen.add(sample.event_id)
        try:
            findings = engine.on_event(sample.event_type, sample.payload, sample.event_id)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise _fail(f"{events}:{sample.line}: the rules cannot read this event: {exc}") from exc
        for finding in findings:
            opened.setdefault(finding.key, (sample.line, finding))
    counts = engine.take_counts()
    if as_json:
        out.print(msgspec.json.encode(_report(opened, counts)).decode())
        return
    _print(opened, counts)


def _report(opened: dict[tuple[Any, ...], tuple[int, Finding]], counts: DetectionCounts) -> dict[str, Any]:
    return {
        "conflicts": [
            {
                "line": line,
                "rule": finding.rule,
                "entity": list(finding.entity),
                "teams": list(finding.teams),
                "occurred_at": finding.occurred_at.isoformat(),
                "source_event_ids": list(finding.source_event_ids),
                "summary": finding.summary,
            }
            for line, finding in opened.values()
        ],
        "counts": {
            "events": counts.events,
            "previews": counts.previews,
            "ignored": counts.ignored,
            "conflicting": counts.conflicting,
            "unverifiable": counts.unverifiable,
        },
    }


def _print(opened: dict[tuple[Any, ...], tuple[int, Finding]], counts: DetectionCounts) -> None:
    table = Table("line", "rule", "teams", "summary", title=f"{len(opened)} conflict(s) would open")
    for line, finding in opened.values():
        table.add_row(str(line), finding.rule, ", ".join(finding.teams), finding.summary)
    out.print(table)
    unverifiable = ", ".join(f"{rule} {count}" for rule, count in sorted(counts.unverifiable.items())) or "none"
    out.print(
        f"{counts.events} event(s) checked, {counts.conflicting} conflicting, {counts.previews} preview(s), "
        f"{counts.ignored} ignored (redelivered or older than held); unverifiable checks: {unverifiable}"
    )
