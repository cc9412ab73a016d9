"""``visibility simulate``: publish a planned retail stream through Bloodbank on schedule, then write its labels.

The stream (:mod:`visibility.tools.retail_stream`) is planned from the seed before the first
event goes out; events are then published when due, in batches when the publisher
falls behind, each batch returning after the broker's confirms. The labels are the
conflicts the reference model (:mod:`visibility.tools.reference`) finds in what was actually
published, in publishing order, so an interrupted run still writes labels that hold.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bloodbank import BrokerUnavailable, Bus, PublishStatus
from visibility.rules import RuleSet
from visibility.tools.labels import Label, LabelsHeader, format_time, write_labels
from visibility.tools.reference import reference_labels
from visibility.tools.retail_stream import PlannedEvent, Stream

__all__ = ["SimulationFailed", "SimulationReport", "publish_stream", "stream_labels"]

BATCH = 256
"""Events published at most in one pipelined batch when the publisher is behind schedule."""


class SimulationFailed(RuntimeError):
    """The bus refused an event of the stream (it names the event and why)."""


@dataclass
class SimulationReport:
    """What a run published, and what it left in the labels file."""

    started_at: datetime
    finished_at: datetime
    published: int = 0
    planned: int = 0
    labels: list[Label] = field(default_factory=list)
    max_lag: float = 0.0  # seconds the publisher was behind schedule at worst
    interrupted: bool = False


def stream_labels(rules: RuleSet, events: list[PlannedEvent], started_at: datetime) -> list[Label]:
    """The conflicts the rules find in ``events`` as published (in this order) from ``started_at``."""
    return reference_labels(rules, (event.arriving(started_at) for event in events))


async def publish_stream(
    bus: Bus,
    stream: Stream,
    rules: RuleSet,
    labels_path: Path,
    *,
    on_progress: Callable[[int, float], None] | None = None,
) -> SimulationReport:
    """Publish ``stream`` on schedule and write its labels to ``labels_path`` (also when interrupted).

    ``on_progress(published, lag_seconds)`` is called after each batch. Raises
    :class:`SimulationFailed` when the bus refuses an event, and whatever the bus raises
    when the broker is gone (``BrokerUnavailable``); the labels are written either way.
    """
    host = socket.gethostname()
    events = stream.events
    started_at = datetime.now(UTC)
    start = time.monotonic()
    report = SimulationReport(started_at=started_at, finished_at=started_at, planned=len(events))
    try:
        while report.published < len(events):
            elapsed = time.monotonic() - start
            due = events[report.published].publish_at
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
                continue
            batch = [events[report.published]]
            while (
                len(batch) < BATCH
                and report.published + len(batch) < len(events)
                and events[report.published + len(batch)].publish_at <= elapsed
            ):
                batch.append(events[report.published + len(batch)])
            await _publish(bus, batch, started_at, host)
            report.published += len(batch)
            report.max_lag = max(report.max_lag, time.monotonic() - start - batch[0].publish_at)
            if on_progress is not None:
                on_progress(report.published, report.max_lag)
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        report.finished_at = datetime.now(UTC)
        report.labels = stream_labels(rules, events[: report.published], started_at)
        write_labels(labels_path, _header(stream, report, rules), report.labels)
    return report


async def _publish(bus: Bus, batch: list[PlannedEvent], started_at: datetime, host: str) -> None:
    outcomes = await bus.publisher.publish_many([event.envelope(started_at, host=host) for event in batch])
    for event, outcome in zip(batch, outcomes, strict=True):
        if outcome.status is PublishStatus.UNCONFIRMED:
            raise BrokerUnavailable(f"the broker did not confirm {event.event_type} {event.event_id}: {outcome.error}")
        if not outcome.ok:
            reason = "; ".join(map(str, outcome.issues)) or outcome.error or "refused"
            raise SimulationFailed(f"the bus refused {event.event_type} {event.event_id}: {reason}")


def _header(stream: Stream, report: SimulationReport, rules: RuleSet) -> LabelsHeader:
    config = stream.config
    published = stream.events[: report.published]
    extra: dict[str, Any] = {
        "finished_at": format_time(report.finished_at),
        "stores": config.stores,
        "products": config.products,
        "published": report.published,
        "planned": report.planned,
        "offers": sum(1 for event in published if event.event_type.startswith("retail.offer") and not event.duplicate),
        "snapshots": sum(1 for event in published if event.event_type.startswith("retail.inv") and not event.duplicate),
        "duplicates": sum(1 for event in published if event.duplicate),
        "late": sum(1 for event in published if event.late),
        "planted": dict(sorted(stream.planted.items())),
        "labels": len(report.labels),
        "max_lag_seconds": round(report.max_lag, 3),
        "interrupted": report.interrupted,
        "rules": {rule.id: rule.version for rule in rules.rules},
    }
    return LabelsHeader(
        seed=config.seed,
        rate=config.rate,
        duration=config.duration,
        conflict_rate=config.conflict_rate,
        started_at=report.started_at,
        time_scale=config.time_scale,
        extra=extra,
    )
