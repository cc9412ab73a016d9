"""Filling a migrated store fast: realistic events as Candystore writes them, loaded with ``COPY``.

Each row is built by the store's own :func:`~candystore.store.writes.build_record` and
converted by the engine's own column types (the JSON columns become the same text the
store's inserts send), so the table holds what a million ``store_batch`` calls would
have left, with the indexes the migrations created, in a fraction of the time. The
events span the last 30 days in time order; some name parents, as on the bus.

The causation graph the trace is measured on goes in through ``EventStore.store_batch``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncEngine

from bloodbank import uuid7
from candystore.store import EventStore
from candystore.store.schema import causation, events
from candystore.store.writes import build_record
from stack.bench.traffic import EnvelopeFactory

__all__ = ["CausationGraph", "fill_events", "store_graph"]

CHUNK = 10_000
"""Rows per ``COPY``."""
YIELD_EVERY = 500
"""Rows built between two chances for the running ``COPY`` to send its data."""
SPAN = timedelta(days=30)
SECOND_PARENT_SHARE = 0.1
"""Share of the graph's events with two parents (the graph is a tree plus these links)."""

_COLUMNS = tuple(column.name for column in events.columns)


def _converters(engine: AsyncEngine) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """Each column and what the engine does to its value before sending it (JSON to text; others unchanged)."""
    dialect = engine.dialect
    return [(column.name, column.type.dialect_impl(dialect).bind_processor(dialect)) for column in events.columns]


class _Rows:
    """Builds the rows of the next events, in time order across the span."""

    def __init__(self, engine: AsyncEngine, rows: int) -> None:
        self._factory = EnvelopeFactory(seed=11)
        self._converters = _converters(engine)
        self._start = datetime.now(UTC) - SPAN
        self._step = SPAN / max(rows, 1)

    def build(self, index: int) -> tuple[tuple[Any, ...], list[tuple[uuid.UUID, uuid.UUID]]]:
        """The ``events`` row of the index-th event, and its ``causation`` rows."""
        moment = self._start + self._step * index
        record = build_record(self._factory.make(timestamp=moment), stored_at=moment + timedelta(milliseconds=25))
        row = record.row
        values = tuple(row[name] if convert is None else convert(row[name]) for name, convert in self._converters)
        return values, [(parent, record.event_id) for parent in record.parents]


async def _copy(
    connection: asyncpg.Connection, schema: str, rows: list[tuple[Any, ...]], links: list[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    await connection.copy_records_to_table(events.name, schema_name=schema, columns=_COLUMNS, records=rows)
    if links:
        await connection.copy_records_to_table(
            causation.name, schema_name=schema, columns=("parent_id", "child_id"), records=links
        )


async def fill_events(
    engine: AsyncEngine, connection: asyncpg.Connection, *, schema: str, rows: int, progress: Progress
) -> float:
    """Load ``rows`` events of the realistic mix into ``events`` (and their links into ``causation``); seconds taken.

    While the database takes in one chunk, the next one is built: the two work on different cores.
    """
    builder = _Rows(engine, rows)
    task = progress.add_task(f"filling the store: {rows:,} events", total=rows)
    started = time.perf_counter()
    copying: asyncio.Task[None] | None = None
    for offset in range(0, rows, CHUNK):
        chunk: list[tuple[Any, ...]] = []
        links: list[tuple[uuid.UUID, uuid.UUID]] = []
        for index in range(offset, min(offset + CHUNK, rows)):
            values, parents = builder.build(index)
            chunk.append(values)
            links.extend(parents)
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the running COPY send its data
        if copying is not None:
            await copying
            progress.advance(task, CHUNK)
        copying = asyncio.create_task(_copy(connection, schema, chunk, links))
    if copying is not None:
        await copying
    progress.update(task, completed=rows)
    return time.perf_counter() - started


@dataclass(frozen=True)
class CausationGraph:
    """The stored graph: its root and how many events and links it has."""

    root: str
    nodes: int
    edges: int


async def store_graph(store: EventStore, *, nodes: int, seed: int = 3) -> CausationGraph:
    """Store one causation graph of ``nodes`` events: a random tree where some events have a second parent.

    Each event's parent is drawn among all earlier ones, which gives the shallow, bushy
    shape of a real flow (a meeting, its rounds, the work they start), about 15 levels deep
    for 1,000 events.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible benchmark data, not secrets
    factory = EnvelopeFactory(seed=seed)
    moment = datetime.now(UTC)
    ids = [uuid7() for _ in range(nodes)]
    envelopes = []
    edges = 0
    for index, event_id in enumerate(ids):
        parents: list[str] = []
        if index:
            parents = [ids[rng.randrange(index)]]
            if index > 1 and rng.random() < SECOND_PARENT_SHARE:
                parents.append(rng.choice([i for i in ids[:index] if i != parents[0]]))
        edges += len(parents)
        timestamp = moment + timedelta(milliseconds=index)
        envelopes.append(factory.make(timestamp=timestamp, correlation_ids=parents, event_id=event_id))
    for start in range(0, nodes, 500):
        await store.store_batch(envelopes[start : start + 500])
    return CausationGraph(root=str(uuid.UUID(ids[0])), nodes=nodes, edges=edges)
