"""``33god bench store``: ``GET /events`` queries and causation traces over a million stored events, on PostgreSQL.

A fresh schema is migrated and filled with 1,000,000 realistic events (``CANDYSTORE_BENCH_ROWS``
for another count) and one causation graph of 1,000 events. Then, each for ``--seconds``:

* ``EventStore.query`` with an exact ``event_type`` filter, first page of 100, every type in
  turn, alternating with the same query as hand-written SQL through raw asyncpg (the
  baseline: the database's own cost plus decoding the documents);
* ``EventStore.query`` with a ``#`` pattern (``retail.#``, every domain in turn);
* ``EventStore.query`` with payload conditions (``GET /events?payload.PATH[op]=value``), one kind at a
  time (:data:`CONDITIONS`: each operator, and equality on nested paths), its conditions in turn;
* ``EventStore.trace`` from the graph's root with ``max_nodes=1000``: all 1,000 events.

The unit is milliseconds (lower is better); ``ratio`` is the baseline's p95 over ours.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from candystore import CandystoreSettings, EventFilter, EventStore
from candystore.conditions import Condition
from candystore.store.migrate import upgrade
from stack.bench.sandbox import DEFAULT_DATABASE_URL, BenchSchema, bench_schema, percentile
from stack.bench.store_fill import CausationGraph, fill_events, store_graph
from stack.bench.traffic import DOMAIN_WEIGHTS, EnvelopeFactory

__all__ = ["run_store"]

DEFAULT_ROWS = 1_000_000
GRAPH_NODES = 1_000
PAGE = 100
MIN_ITERATIONS = 20
WARM_UP = 5
BASELINE_SQL = "SELECT document FROM events WHERE event_type = $1 ORDER BY timestamp, event_id LIMIT 100"
CONDITIONS: dict[str, tuple[str, ...]] = {
    # Equality on object keys is jsonb containment, served by the GIN index on the payload.
    "eq": ("payload.store_id=store-0088", "payload.repository=33god/holyfields", "payload.status=error"),
    # A digit key may step into an array: no containment, the path is walked row by row.
    "eq_nested": ("payload.input.title=Weekly platform sync", 'payload.items.0.product_id="1004417382"'),
    "ne": ("payload.conclusion[ne]=success", "payload.channel[ne]=web"),
    "lt": ("payload.price[lt]=40", "payload.duration_seconds[lt]=60"),
    "gt": ("payload.duration_ms[gt]=10000", "payload.quantity[gt]=5"),
    "contains": ("payload.title[contains]=quorum", "payload.teams[contains]=sponsored"),
    "exists": ("payload.retry_of[exists]=true", "payload.upload_id[exists]=false"),
}
"""Payload conditions by kind, each matching some of the realistic mix (the first page is checked)."""


def _rows() -> int:
    raw = os.environ.get("CANDYSTORE_BENCH_ROWS", "")
    if not raw:
        return DEFAULT_ROWS
    try:
        rows = int(raw.replace("_", ""))
    except ValueError:
        rows = 0
    if rows < 1:
        raise SystemExit(f"CANDYSTORE_BENCH_ROWS must be a positive whole number of events, got {raw!r}")
    return rows


def _millis(samples: list[float]) -> dict[str, float]:
    values = [sample * 1000 for sample in samples]
    return {
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
        "p99": round(percentile(values, 0.99), 2),
    }


async def _queries(
    store: EventStore, connection: asyncpg.Connection, event_types: list[str], seconds: float
) -> tuple[list[float], list[float]]:
    """Ours and the baseline, alternating query by query over every event type, for ``seconds``."""
    ours: list[float] = []
    raw: list[float] = []
    index = 0
    deadline = time.perf_counter() + seconds
    while index < MIN_ITERATIONS + WARM_UP or time.perf_counter() < deadline:
        event_type = event_types[index % len(event_types)]
        started = time.perf_counter()
        page = await store.query(EventFilter(event_type=event_type), limit=PAGE)
        middle = time.perf_counter()
        documents = await _baseline(connection, event_type)
        ended = time.perf_counter()
        if index < len(event_types) and [e["event_id"] for e in page.items] != [d["event_id"] for d in documents]:
            raise RuntimeError(f"the store and the baseline disagree on the first page of {event_type}")
        if index >= WARM_UP:
            ours.append(middle - started)
            raw.append(ended - middle)
        index += 1
    return ours, raw


async def _baseline(connection: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    """The hand-written query, its documents decoded as the store decodes them."""
    return [msgspec.json.decode(row["document"]) for row in await connection.fetch(BASELINE_SQL, event_type)]


async def _repeat(call: Callable[[int], Awaitable[object]], seconds: float) -> list[float]:
    """Seconds each call took, calling with 0, 1, 2 … for ``seconds`` (and at least MIN_ITERATIONS times)."""
    samples: list[float] = []
    index = 0
    deadline = time.perf_counter() + seconds
    while index < MIN_ITERATIONS + WARM_UP or time.perf_counter() < deadline:
        started = time.perf_counter()
        await call(index)
        if index >= WARM_UP:
            samples.append(time.perf_counter() - started)
        index += 1
    return samples


async def _patterns(store: EventStore, seconds: float) -> list[float]:
    patterns = [f"{domain}.#" for domain in DOMAIN_WEIGHTS]
    return await _repeat(
        lambda index: store.query(EventFilter(event_type=patterns[index % len(patterns)]), limit=PAGE), seconds
    )


async def _conditions(store: EventStore, seconds: float) -> dict[str, list[float]]:
    """Seconds each first page took, kind by kind, for ``seconds`` each (every page checked once first)."""
    samples: dict[str, list[float]] = {}
    for kind, texts in CONDITIONS.items():
        filters = [EventFilter(conditions=(Condition.parse(text),)) for text in texts]
        for text, checked in zip(texts, filters, strict=True):
            page = await store.query(checked, limit=PAGE)
            condition = checked.conditions[0]
            if not page.items or not all(condition.matches(item["payload"]) for item in page.items):
                raise RuntimeError(f"{text} does not select events of the mix that meet it")
        samples[kind] = await _repeat(_first_pages(store, filters), seconds)
    return samples


def _first_pages(store: EventStore, filters: list[EventFilter]) -> Callable[[int], Awaitable[object]]:
    """A call querying the first page of ``filters`` in turn."""
    return lambda index: store.query(filters[index % len(filters)], limit=PAGE)


async def _traces(store: EventStore, graph: CausationGraph, seconds: float) -> tuple[list[float], int]:
    trace = await store.trace(graph.root, max_nodes=GRAPH_NODES)
    if trace is None or len(trace.nodes) != graph.nodes or trace.truncated:
        raise RuntimeError(f"the trace of the graph's root did not return its {graph.nodes} events")
    return await _repeat(lambda _: store.trace(graph.root, max_nodes=GRAPH_NODES), seconds), len(trace.nodes)


async def _measure(schema: BenchSchema, rows: int, seconds: float, console: Console) -> dict[str, Any]:
    load = round(os.getloadavg()[0], 2)  # other work on the machine skews every figure
    store = EventStore.open(schema.sqlalchemy_url, connect_args=schema.connect_args)
    connection = await asyncpg.connect(schema.dsn, server_settings=schema.server_settings, timeout=10)
    try:
        await upgrade(store.engine)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            fill_seconds = await fill_events(store.engine, connection, schema=schema.name, rows=rows, progress=progress)
        with console.status("storing a causation graph, then VACUUM ANALYZE…") as status:
            graph = await store_graph(store, nodes=GRAPH_NODES)
            # What autovacuum would have done by now on a table that grew to this size.
            await connection.execute("VACUUM ANALYZE events")
            await connection.execute("VACUUM ANALYZE causation")
            stored = int(await connection.fetchval("SELECT count(*) FROM events"))
            # What is alive now (modules, engine, benchmark state) stays alive: keep the collector's full
            # passes, which a trace's thousand fresh documents set off, from walking it again and again.
            gc.collect()
            gc.freeze()
            status.update(f"GET /events by type: ours and raw asyncpg, {seconds:g} s…")
            ours, raw = await _queries(store, connection, EnvelopeFactory().event_types, seconds)
            status.update(f"GET /events by pattern, {seconds:g} s…")
            patterns = await _patterns(store, seconds)
            status.update(f"GET /events by payload condition, {len(CONDITIONS)} kinds, {seconds:g} s each…")
            conditions = {kind: _millis(samples) for kind, samples in (await _conditions(store, seconds)).items()}
            status.update(f"trace of a {graph.nodes:,}-event graph, {seconds:g} s…")
            traces, nodes = await _traces(store, graph, seconds)
    finally:
        gc.unfreeze()
        await connection.close()
        await store.close()
    query, baseline, pattern, trace = _millis(ours), _millis(raw), _millis(patterns), _millis(traces)
    console.print(f"filled {rows:,} events in {fill_seconds:.1f} s ({rows / fill_seconds:,.0f}/s)")
    console.print(f"by type     p50 {query['p50']} ms  p95 {query['p95']} ms  p99 {query['p99']} ms")
    console.print(f"raw asyncpg p50 {baseline['p50']} ms  p95 {baseline['p95']} ms  p99 {baseline['p99']} ms")
    console.print(f"by pattern  p50 {pattern['p50']} ms  p95 {pattern['p95']} ms  p99 {pattern['p99']} ms")
    for kind, figures in conditions.items():
        console.print(f"{kind + ' condition':<22} p50 {figures['p50']} ms  p95 {figures['p95']} ms")
    console.print(f"trace       p50 {trace['p50']} ms  p95 {trace['p95']} ms ({nodes:,} nodes, {graph.edges:,} links)")
    return {
        "bench": "store",
        "unit": "ms",
        "ours": query["p95"],
        "baseline": {"name": "the same query as hand-written SQL through raw asyncpg", "value": baseline["p95"]},
        "ratio": round(baseline["p95"] / query["p95"], 2),
        "p50_ms": query["p50"],
        "p95_ms": query["p95"],
        "p99_ms": query["p99"],
        "pattern_p50_ms": pattern["p50"],
        "pattern_p95_ms": pattern["p95"],
        "pattern_p99_ms": pattern["p99"],
        **{f"condition_{kind}_p95_ms": figures["p95"] for kind, figures in conditions.items()},
        "trace_p50_ms": trace["p50"],
        "trace_p95_ms": trace["p95"],
        "trace_nodes": nodes,
        "trace_edges": graph.edges,
        "rows": stored,
        "queries": len(ours),
        "traces": len(traces),
        "fill_events_per_s": round(rows / fill_seconds),
        "load_1m": load,
    }


def run_store(*, seconds: float, console: Console) -> dict[str, Any]:
    database_url = CandystoreSettings().database_url or DEFAULT_DATABASE_URL
    rows = _rows()

    async def run() -> dict[str, Any]:
        async with bench_schema(database_url) as schema:
            return await _measure(schema, rows, seconds, console)

    return asyncio.run(run())
