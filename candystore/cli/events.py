"""``candystore trace`` (the causation chain as a tree) and ``candystore replay`` (republish stored events)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

import msgspec
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from candystore.cli.common import EXIT_INVALID, bloodbank_settings, err, open_bus, open_store, out, settings
from candystore.replay import replay_events
from candystore.store import EventFilter, Trace
from holyfields.timestamps import InvalidTimestamp, parse_timestamp
from holyfields.wildcards import InvalidPattern, TypePattern

__all__ = ["parse_moment", "parse_type_pattern", "render_trace", "replay", "trace"]


def trace(
    event_id: Annotated[str, typer.Argument(help="The event whose causes and consequences to show.")],
    max_nodes: Annotated[int, typer.Option(help="Events to show at most.", min=1)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print {nodes, edges} as JSON instead of a tree.")] = False,
) -> None:
    """Print the causation chain around an event: ancestors above, descendants below."""
    try:
        uuid.UUID(event_id)
    except ValueError as exc:
        err.print(f"{event_id!r} is not an event id (a UUID)")
        raise typer.Exit(EXIT_INVALID) from exc
    found = asyncio.run(_trace(event_id, max_nodes))
    if found is None:
        err.print(f"no event {event_id} is stored")
        raise typer.Exit(EXIT_INVALID)
    if as_json:
        document = {
            "root": found.root,
            "nodes": [node.envelope or {"event_id": node.event_id, "placeholder": True} for node in found.nodes],
            "edges": [{"parent": edge.parent, "child": edge.child} for edge in found.edges],
            "truncated": found.truncated,
        }
        out.print(msgspec.json.format(msgspec.json.encode(document)).decode())
        return
    for line in render_trace(found):
        out.print(line)
    if found.truncated:
        err.print(f"truncated at {max_nodes} events: pass --max-nodes to see more")


async def _trace(event_id: str, max_nodes: int) -> Trace | None:
    async with open_store(settings()) as store:
        return await store.trace(event_id, max_nodes=max_nodes)


def render_trace(found: Trace) -> list[str]:
    """The graph as tree lines from its roots; an event with several parents appears under each, marked."""
    nodes = {node.event_id: node.envelope for node in found.nodes}
    children: dict[str, list[str]] = defaultdict(list)
    parents: dict[str, list[str]] = defaultdict(list)
    for edge in found.edges:
        children[edge.parent].append(edge.child)
        parents[edge.child].append(edge.parent)
    for ids in children.values():
        ids.sort(key=lambda child: (_timestamp(nodes.get(child)), child))
    roots = sorted((node for node in nodes if not parents[node]), key=lambda n: (_timestamp(nodes.get(n)), n))
    lines = [f"causation around {found.root} ({len(nodes)} events, {len(found.edges)} links)"]
    shown: set[str] = set()

    def add(event_id: str, prefix: str, last: bool, path: frozenset[str]) -> None:
        label = _label(event_id, nodes.get(event_id), root=found.root, parents=len(parents[event_id]))
        branch = "└── " if last else "├── "
        if event_id in path or event_id in shown:
            lines.append(f"{prefix}{branch}{label}  ({'cycle' if event_id in path else 'shown above'})")
            return
        shown.add(event_id)
        lines.append(f"{prefix}{branch}{label}")
        below = children[event_id]
        for index, child in enumerate(below):
            add(child, prefix + ("    " if last else "│   "), index == len(below) - 1, path | {event_id})

    starts = roots or [found.root]  # a graph that is one cycle has no root: start at the event asked for
    for index, root in enumerate(starts):
        add(root, "", index == len(starts) - 1, frozenset())
    return lines


def _timestamp(envelope: dict[str, Any] | None) -> str:
    return str(envelope.get("timestamp", "")) if envelope else ""


def _label(event_id: str, envelope: dict[str, Any] | None, *, root: str, parents: int) -> str:
    marker = "▶ " if event_id == root else ""
    if envelope is None:
        return f"{marker}{event_id}  (not stored yet)"
    source = envelope.get("source") or {}
    agent = envelope.get("agent_context") or {}
    parts = [f"{marker}{envelope.get('event_type')}", event_id, str(envelope.get("timestamp", ""))]
    if app := source.get("app"):
        parts.append(f"from {app}")
    if name := agent.get("name"):
        parts.append(f"agent {name}")
    if parents > 1:
        parts.append(f"{parents} parents")
    return "  ".join(parts)


def parse_moment(option: str, value: str | None) -> datetime | None:
    """An RFC 3339 time with an offset (the platform's one timestamp parser), or exit 1 saying what is wrong."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except InvalidTimestamp as exc:
        err.print(f"{option}: {exc}")
        raise typer.Exit(EXIT_INVALID) from exc


def parse_type_pattern(option: str, value: str | None) -> str | None:
    """An event type or pattern (``*`` one word, ``#`` zero or more words), or exit 1 saying what is wrong."""
    if value is None:
        return None
    try:
        return TypePattern.parse(value).text
    except InvalidPattern as exc:
        err.print(f"{option}: {exc}")
        raise typer.Exit(EXIT_INVALID) from exc


def replay(
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601 with offset).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this time, exclusive.")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Event type or pattern: `*` one word, `#` zero or more (retail.#).")
    ] = None,
    source_app: Annotated[str | None, typer.Option(help="Only events from this app.")] = None,
) -> None:
    """Republish stored events to the bus, marked as replays, with a progress bar."""
    filters = EventFilter(
        event_type=parse_type_pattern("--type", event_type),
        source_app=source_app,
        since=parse_moment("--since", since),
        until=parse_moment("--until", until),
    )
    count = asyncio.run(_replay(filters))
    out.print(f"{count} events replayed")


async def _replay(filters: EventFilter) -> int:
    async with open_store(settings()) as store, open_bus(bloodbank_settings()) as bus:
        total = await store.count(filters)
        with Progress(
            TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("replay", total=total)
            result = await replay_events(
                store, bus.publisher, filters, progress=lambda done: progress.update(task, completed=done.total)
            )
        return result.replayed
