"""``visibility simulate / evaluate / patterns``: the labelled stream, its score, and what history says.

Exit codes: 0 done; 1 bad input (an option, the rules, the labels file, an API that does
not answer or answers nonsense); 2 the broker is unreachable (``simulate``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from bloodbank import BloodbankSettings, Bus
from bloodbank.errors import BrokerUnavailable
from gumdrop.console import logs_on_stderr, read_settings
from visibility.rules import RulesError, RuleSet, load_rules
from visibility.settings import VisibilitySettings
from visibility.tools.evaluation import Evaluation, evaluate, fetch_detections, wait_until_settled
from visibility.tools.http_json import ApiProblem
from visibility.tools.labels import LabelsError, read_labels
from visibility.tools.patterns import Patterns, analyse, fetch_history
from visibility.tools.retail_stream import Stream, StreamConfig, plan_stream
from visibility.tools.simulator import SimulationFailed, SimulationReport, publish_stream

__all__ = ["evaluate_command", "patterns_command", "simulate_command"]

EXIT_INVALID = 1
EXIT_UNAVAILABLE = 2

# No markup: ids, URLs and messages may hold brackets that must print as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def _fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    err.print(message)
    return typer.Exit(code)


def _rules(path: Path | None) -> RuleSet:
    chosen = path if path is not None else read_settings(VisibilitySettings, err).rules
    try:
        return load_rules(chosen)
    except RulesError as exc:
        for issue in exc.issues:
            err.print(f"{exc.source}: {issue}")
        raise typer.Exit(EXIT_INVALID) from exc


def _moment(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"{option} {value!r} is not an ISO 8601 time, e.g. 2026-11-30T10:00:00Z") from exc
    if moment.tzinfo is None:
        raise _fail(f"{option} {value!r} needs a UTC offset, e.g. 2026-11-30T10:00:00Z")
    return moment


# --- simulate ---------------------------------------------------------------------------------


def simulate_command(
    *,
    labels: Annotated[Path, typer.Option(help="Where to write the true conflicts (JSON Lines).")],
    rate: Annotated[float, typer.Option(help="Events per second (offers and snapshots).")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds to publish for (wall clock).")] = 60.0,
    conflict_rate: Annotated[float, typer.Option(help="Share of offers planted as conflicts (0-1).")] = 0.02,
    seed: Annotated[int | None, typer.Option(help="Seed of the stream; the same seed, the same stream.")] = None,
    time_scale: Annotated[
        float, typer.Option(help="Stream seconds per wall-clock second (snapshots every 5 min).")
    ] = 1.0,
    stores: Annotated[int, typer.Option(help="Stores in the stream.")] = 5,
    products: Annotated[int, typer.Option(help="Products per store.")] = 40,
    rules: Annotated[Path | None, typer.Option(help="Rules file to label by; default VISIBILITY_RULES.")] = None,
) -> None:
    """Publish a realistic retail stream through Bloodbank and write the conflicts it holds as labels."""
    chosen_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    try:
        config = StreamConfig(
            seed=chosen_seed,
            rate=rate,
            duration=duration,
            conflict_rate=conflict_rate,
            time_scale=time_scale,
            stores=stores,
            products=products,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    rule_set = _rules(rules)
    if not labels.parent.is_dir():
        raise _fail(f"--labels {labels}: the directory {labels.parent} does not exist")
    settings = read_settings(BloodbankSettings, err)
    with err.status("planning the stream…"):
        stream = plan_stream(config, rule_set)
    err.print(
        f"seed {chosen_seed}: {len(stream.events):,} events over {duration:g} s "
        f"({stream.offers:,} offers, {stream.snapshots:,} snapshots, time scale {time_scale:g})"
    )
    try:
        report = asyncio.run(_simulate(settings, stream, rule_set, labels))
    except BrokerUnavailable as exc:
        raise _fail(f"cannot reach the broker: {exc}", EXIT_UNAVAILABLE) from exc
    except SimulationFailed as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt as exc:
        raise _fail(f"interrupted: {labels} holds the true conflicts of the events published so far", 130) from exc
    _print_simulation(stream, report, labels)


async def _simulate(settings: BloodbankSettings, stream: Stream, rules: RuleSet, labels: Path) -> SimulationReport:
    unrouted = 0
    ours = {event.event_id for event in stream.events}

    def count_unrouted(event_id: str, _event_type: str) -> None:
        nonlocal unrouted
        unrouted += event_id in ours  # the broker reports everyone's unrouted events

    bus = await Bus.start(settings, on_unrouted=count_unrouted)
    try:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("lag {task.fields[lag]:.2f} s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task("publishing", total=len(stream.events), lag=0.0)

            def advance(published: int, lag: float) -> None:
                progress.update(task, completed=published, lag=lag)

            with logs_on_stderr(logging.ERROR):
                return await publish_stream(bus, stream, rules, labels, on_progress=advance)
    finally:
        await bus.close()
        if unrouted:
            err.print(
                f"{unrouted:,} events reached no consumer (kept in unrouted.all): is the detector "
                "(`visibility serve`) running on this broker?"
            )


def _print_simulation(stream: Stream, report: SimulationReport, labels: Path) -> None:
    planted = {name: count for name, count in stream.planted.items() if name not in {"duplicates", "late"}}
    out.print(f"published {report.published:,} of {report.planned:,} events from {report.started_at.isoformat()}")
    out.print(
        f"  duplicates {stream.planted['duplicates']:,}, late {stream.planted['late']:,}, "
        f"planted {', '.join(f'{name} {count}' for name, count in sorted(planted.items())) or 'nothing'}"
    )
    out.print(f"  behind schedule at most {report.max_lag:.3f} s")
    out.print(f"{len(report.labels):,} true conflicts written to {labels}")


# --- evaluate ---------------------------------------------------------------------------------


def evaluate_command(
    *,
    labels: Annotated[Path, typer.Option(help="The labels file `visibility simulate` wrote.")],
    api: Annotated[str, typer.Option(help="The visibility API.")] = "http://127.0.0.1:8685",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each request may take.")] = 10.0,
    settle: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Score once the detector has taken no new event for this many seconds "
            "(right after `simulate` it may still be working through the stream); 0 scores at once.",
        ),
    ] = 2.0,
    settle_timeout: Annotated[
        float, typer.Option(min=0.0, help="Score anyway after waiting this long for the detector to settle.")
    ] = 300.0,
) -> None:
    """Score the detector's conflicts against the labels: recall, precision, false positives, time to detect."""
    try:
        header, truth = read_labels(labels)
    except LabelsError as exc:
        raise _fail(str(exc)) from exc
    if settle > 0:
        try:
            _settle(api, quiet=settle, timeout=settle_timeout, request_timeout=timeout)
        except ApiProblem as exc:
            raise _fail(f"cannot read the detector's progress (--settle 0 skips waiting for it): {exc}") from exc
    try:
        detections = fetch_detections(api, timeout=timeout)
    except ApiProblem as exc:
        raise _fail(f"cannot read the detections: {exc}") from exc
    result = evaluate(header, truth, detections)
    if as_json:
        out.print(msgspec.json.encode({"labels_file": str(labels), "api": api, **result.to_json()}).decode())
        return
    _print_evaluation(result)


def _settle(api: str, *, quiet: float, timeout: float, request_timeout: float) -> None:
    with err.status("waiting for the detector to take its last events…") as status:

        def show(count: float) -> None:
            status.update(f"waiting for the detector to take its last events… ({count:,.0f} evaluated so far)")

        settled = wait_until_settled(api, quiet=quiet, timeout=timeout, request_timeout=request_timeout, on_count=show)
    if not settled:
        err.print(f"[yellow]the detector still takes new events after {timeout:g} s: scoring what it found[/yellow]")


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _print_evaluation(result: Evaluation) -> None:
    table = Table(title="Detections against the labels", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("labels (true conflicts)", f"{result.labels:,}"),
        ("detections in the run", f"{result.detections:,}"),
        (
            "found",
            f"{result.detected + result.absorbed:,}" + (f" ({result.absorbed} absorbed)" if result.absorbed else ""),
        ),
        ("missed", f"{len(result.missed):,}"),
        ("false positives", f"{result.false_positives:,}"),
        ("recall", _share(result.recall)),
        ("precision", _share(result.precision)),
        ("false-positive rate", _share(result.false_positive_rate)),
        ("time to detect p50", _seconds(result.ttd(50))),
        ("time to detect p95", _seconds(result.ttd(95))),
        ("time to detect p99", _seconds(result.ttd(99))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if len(result.per_rule) > 1:
        rules = Table(title="Per rule", title_justify="left")
        for column in ("rule", "labels", "found", "detections", "false positives"):
            rules.add_column(column, justify="left" if column == "rule" else "right")
        for rule, score in sorted(result.per_rule.items()):
            rules.add_row(
                rule, *(f"{n:,}" for n in (score.labels, score.found, score.detections, score.false_positives))
            )
        out.print(rules)
    for label in result.missed[:5]:
        out.print(f"missed: {label.rule} {label.product_id} at {label.store_id} {'+'.join(label.teams)}")
    if result.ignored:
        out.print(f"{result.ignored:,} detections after the run were left out")


# --- patterns ---------------------------------------------------------------------------------


def patterns_command(
    *,
    api: Annotated[str, typer.Option(help="The Candystore API holding the history.")] = "http://127.0.0.1:8683",
    since: Annotated[str | None, typer.Option(help="Only events at or after this time (ISO 8601).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each request may take.")] = 30.0,
) -> None:
    """Hot spots, recurring conflicts and the directly-follows graph of the stored history.

    Candybar's Patterns page draws the same analysis, its event-type flow as a graph.
    """
    moment = _moment("--since", since)
    try:
        history = fetch_history(api, since=moment, timeout=timeout)
    except ApiProblem as exc:
        raise _fail(f"cannot read the history: {exc}") from exc
    result = analyse(history)
    if as_json:
        out.print(msgspec.json.encode(result.to_json()).decode())
    else:
        _print_patterns(result)


def _print_patterns(result: Patterns) -> None:
    out.print(f"{result.conflicts:,} conflicts ({result.occurrences:,} occurrences) in {result.events:,} events")
    hot = Table(title="Hot spots", title_justify="left")
    for column in ("team pairs", "products", "stores", "hours (UTC)"):
        hot.add_column(column)
    columns = [
        [f"{name}  {count:,}" for name, count in result.team_pairs.most_common(8)],
        [f"{name}  {count:,}" for name, count in result.products.most_common(8)],
        [f"{name}  {count:,}" for name, count in result.stores.most_common(8)],
        [f"{hour:02d}:00  {count:,}" for hour, count in result.hours.most_common(8)],
    ]
    for row in range(max((len(column) for column in columns), default=0)):
        hot.add_row(*(column[row] if row < len(column) else "" for column in columns))
    out.print(hot)
    if result.recurring:
        recurring = Table(title="Recurring conflicts", title_justify="left")
        for column in ("rule", "product", "store", "teams", "conflicts", "occurrences", "last seen"):
            recurring.add_column(column)
        for item in result.recurring[:10]:
            recurring.add_row(
                item.rule, item.product_id, item.store_id, " + ".join(item.teams),
                str(item.conflicts), str(item.occurrences), item.last_seen,
            )  # fmt: skip
        out.print(recurring)
    flows = Table(title="Directly-follows graph (parent type → child type)", title_justify="left")
    for column in ("from", "to", "count"):
        flows.add_column(column, justify="right" if column == "count" else "left")
    for (parent, child), count in sorted(result.flows.items(), key=lambda item: (-item[1], item[0])):
        flows.add_row(parent, child, f"{count:,}")
    out.print(flows)
    if result.unresolved_parents:
        out.print(f"{result.unresolved_parents:,} parents are outside the history read")
