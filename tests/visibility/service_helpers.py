"""What the service tests share: a bus, a service on it, a watcher of published events, a clock, polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from bloodbank import BloodbankSettings, Bus, Event
from visibility.alerts import AlertSink
from visibility.rules import RuleSet
from visibility.service import VisibilityService
from visibility.settings import VisibilitySettings

from .retail import T0

DEADLINE = 30.0
"""Seconds a test waits for something asynchronous before it fails (never a timing assertion)."""

_T = TypeVar("_T")


class Clock:
    """A settable clock: ``now()`` reads it, ``advance`` moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


async def eventually(probe: Callable[[], Awaitable[_T]], *, what: str) -> _T:
    """Poll ``probe`` until it returns something truthy; fail after :data:`DEADLINE` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


class Watcher:
    """Collects the visibility events published on the bus."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def handle(self, event: Event) -> None:
        self.events.append(dict(event.document))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event_type"] == event_type]


@asynccontextmanager
async def started_bus(tmp_path: Path, *, broker_url: str | None = None, **options: Any) -> AsyncIterator[Bus]:
    settings = BloodbankSettings(broker_url=broker_url, data_dir=tmp_path / "bus", publish_timeout=10)
    bus = await Bus.start(settings, **options)
    try:
        yield bus
    finally:
        await bus.close()


def visibility_settings(database: Any, tmp_path: Path, **overrides: Any) -> VisibilitySettings:
    values: dict[str, Any] = {
        **database.settings(),
        "data_dir": tmp_path,
        "batch_wait": 0.001,
        "escalation_interval": 0.05,
        "publish_interval": 0.2,
        "alert_interval": 0.05,
        **overrides,
    }
    return VisibilitySettings(**values)


@asynccontextmanager
async def running_service(
    settings: VisibilitySettings,
    bus: Bus,
    *,
    rules: RuleSet | None = None,
    sink: AlertSink | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[VisibilityService]:
    service = VisibilityService(
        settings, bus, registry=CollectorRegistry(), rules=rules, sink=sink, now=None if clock is None else clock.now
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop(timeout=10)
