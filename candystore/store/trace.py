"""The causation graph around one event: its ancestors and descendants, breadth first, bounded.

The walk goes up (parents of the frontier) and down (children of the frontier) one
level at a time, one query per direction per level, so a graph of N levels costs
about 2N queries whatever its width; a last query adds every link between two
events of the graph that the walks did not take. Visited sets make cycles harmless. Parents that
are named but not stored come back as placeholders (an id and no envelope).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.queries import fetch_documents
from candystore.store.schema import causation

__all__ = ["Trace", "TraceEdge", "TraceNode", "trace_event"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class TraceNode:
    """An event of the graph; ``envelope`` is None for a placeholder (named as a parent, not stored)."""

    event_id: str
    envelope: dict[str, Any] | None

    @property
    def placeholder(self) -> bool:
        return self.envelope is None


@dataclass(frozen=True, slots=True)
class TraceEdge:
    """``child`` names ``parent`` in its correlation_ids."""

    parent: str
    child: str


@dataclass(frozen=True, slots=True)
class Trace:
    """The graph around ``root``; ``truncated`` when ``max_nodes`` cut it short."""

    root: str
    nodes: list[TraceNode]
    edges: list[TraceEdge]
    ancestors: list[str]
    descendants: list[str]
    truncated: bool


async def _links(
    connection: AsyncConnection, frontier: Iterable[uuid.UUID], *, upwards: bool
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(parent, child) links whose child (upwards) or parent (downwards) is in ``frontier``."""
    known, other = (
        (causation.c.child_id, causation.c.parent_id) if upwards else (causation.c.parent_id, causation.c.child_id)
    )
    ids = sorted(frontier)
    links: list[tuple[uuid.UUID, uuid.UUID]] = []
    for start in range(0, len(ids), _CHUNK):
        rows = await connection.execute(select(known, other).where(known.in_(ids[start : start + _CHUNK])))
        links.extend((row[1], row[0]) if upwards else (row[0], row[1]) for row in rows)
    return links


async def trace_event(connection: AsyncConnection, event_id: str, *, max_nodes: int) -> Trace | None:
    """The causation graph around ``event_id``, or None when it is neither stored nor linked to anything."""
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
    try:
        root = uuid.UUID(event_id)
    except ValueError:
        return None
    included: set[uuid.UUID] = {root}
    edges: set[tuple[uuid.UUID, uuid.UUID]] = set()
    found: dict[bool, list[uuid.UUID]] = {True: [], False: []}
    truncated = False
    for upwards in (True, False):
        visited: set[uuid.UUID] = {root}
        frontier: set[uuid.UUID] = {root}
        while frontier:
            next_frontier: set[uuid.UUID] = set()
            for parent, child in sorted(await _links(connection, frontier, upwards=upwards)):
                reached = parent if upwards else child
                if reached not in included:
                    if len(included) >= max_nodes:
                        truncated = True
                        continue
                    included.add(reached)
                if reached not in visited:
                    visited.add(reached)
                    found[upwards].append(reached)
                    next_frontier.add(reached)
                edges.add((parent, child))
            frontier = next_frontier
    # Links between two included events that neither walk took (a descendant's second parent among the
    # ancestors): without them a multi-parent event would be drawn with one parent.
    edges.update(
        (parent, child) for parent, child in await _links(connection, included, upwards=True) if parent in included
    )
    documents = await fetch_documents(connection, sorted(included))
    if root not in documents and not edges:
        return None
    ordered = [root, *found[True], *[node for node in found[False] if node not in found[True]]]
    return Trace(
        root=str(root),
        nodes=[TraceNode(str(node), documents.get(node)) for node in ordered],
        edges=[TraceEdge(str(parent), str(child)) for parent, child in sorted(edges)],
        ancestors=[str(node) for node in found[True]],
        descendants=[str(node) for node in found[False]],
        truncated=truncated,
    )
