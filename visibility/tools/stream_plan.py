"""The planned retail stream: what to plan (:class:`StreamConfig`), its events and what was planted.

Times are in seconds after the run's start: ``at`` on the stream's clock, which runs
``time_scale`` times faster than the wall clock, ``publish_at`` on the wall clock.
An event's time field (``surfaced_at``, ``as_of``, ``rendered_at``) and its envelope's ``timestamp`` are
filled in from the start once it is known.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from visibility.tools.labels import format_time
from visibility.tools.reference import OFFER_TYPE, PLACEMENT_TYPE, SNAPSHOT_TYPE, ArrivingEvent

__all__ = ["SNAPSHOT_EVERY", "Injection", "PlannedEvent", "Stream", "StreamConfig"]

SNAPSHOT_EVERY = 300.0
"""Seconds of stream time between two snapshots of a store."""
_MIN_PRODUCTS = 2
_TIME_FIELDS = {OFFER_TYPE: "surfaced_at", SNAPSHOT_TYPE: "as_of", PLACEMENT_TYPE: "rendered_at"}


class Injection(StrEnum):
    """The kinds of conflict the stream plants."""

    PRICE_BETWEEN_TEAMS = "price_between_teams"
    PRICE_VS_TRUTH = "price_vs_truth"
    PHANTOM_STOCK = "phantom_stock"
    FALSE_OUT_OF_STOCK = "false_out_of_stock"
    STOCKOUT = "stockout"
    SCREEN_SPACE = "screen_space"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """What to plan; ``ValueError`` names the option when a value cannot work."""

    seed: int
    rate: float = 50.0
    duration: float = 60.0
    conflict_rate: float = 0.02
    time_scale: float = 1.0
    stores: int = 5
    products: int = 40
    duplicate_share: float = 0.01
    late_share: float = 0.02
    near_threshold_share: float = 0.05
    outage_share: float = 0.03

    def __post_init__(self) -> None:
        checks = (
            ("rate", self.rate > 0, "must be above 0"),
            ("duration", self.duration > 0, "must be above 0"),
            ("conflict_rate", 0 <= self.conflict_rate <= 1, "must be between 0 and 1"),
            ("time_scale", self.time_scale >= 1, "must be at least 1 (it compresses stream time)"),
            ("stores", self.stores >= 1, "must be at least 1"),
            ("products", self.products >= _MIN_PRODUCTS, f"must be at least {_MIN_PRODUCTS}"),
        )
        for name, ok, message in checks:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')}: {message}, got {getattr(self, name)}")
        if self.snapshot_rate >= self.rate:
            raise ValueError(
                f"--rate: {self.rate:g} events/s leaves no room for offers besides the {self.snapshot_rate:g} "
                f"snapshots/s of {self.stores} stores at time scale {self.time_scale:g}"
            )

    @property
    def snapshot_rate(self) -> float:
        """Snapshots per wall-clock second."""
        return self.stores * self.time_scale / SNAPSHOT_EVERY


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One event of the stream, its time field left to fill in from the run's start."""

    publish_at: float  # wall-clock seconds after the start
    at: float  # stream-time seconds after the start
    event_type: str
    event_id: str
    body: Mapping[str, Any]  # the payload without its time field
    app: str
    note: str  # "offer", "snapshot", "near_threshold", "fix" or an Injection
    duplicate: bool = False
    late: bool = False
    parents: tuple[str, ...] = ()  # an offer names the snapshot its team read price and stock from

    def moment(self, started_at: datetime) -> datetime:
        return started_at + timedelta(seconds=self.at)

    def payload(self, started_at: datetime) -> dict[str, Any]:
        return {**self.body, _TIME_FIELDS[self.event_type]: format_time(self.moment(started_at))}

    def arriving(self, started_at: datetime) -> ArrivingEvent:
        return ArrivingEvent(self.event_id, self.event_type, self.payload(started_at))

    def envelope(self, started_at: datetime, *, host: str) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": format_time(self.moment(started_at)),
            "version": "1.0.0",
            "source": {"host": host, "type": "system", "app": self.app},
            "correlation_ids": list(self.parents),
            "payload": self.payload(started_at),
        }


@dataclass
class Stream:
    """The planned events in publishing order, and what was planted."""

    config: StreamConfig
    events: list[PlannedEvent]
    planted: Counter[str] = field(default_factory=Counter)

    @property
    def offers(self) -> int:
        return sum(1 for event in self.events if event.event_type == OFFER_TYPE and not event.duplicate)

    @property
    def snapshots(self) -> int:
        return sum(1 for event in self.events if event.event_type == SNAPSHOT_TYPE and not event.duplicate)

    @property
    def placements(self) -> int:
        return sum(1 for event in self.events if event.event_type == PLACEMENT_TYPE and not event.duplicate)
