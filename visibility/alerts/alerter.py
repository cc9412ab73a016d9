"""The alert loop: group new conflicts per rule, watch the conflict rate, deliver the outbox.

Each run (every ``alert_interval`` seconds) does three things in order: turn each
rule's conflicts waiting past the group window into one message; queue a spike message
when the conflict rate over the spike window passes the threshold (at most one per
window); deliver the messages in the order they were queued. Delivery stops at the
first failure, or at a message waiting for its retry (an outage: the rest keeps its
place). A failed message pauses ``alert_retry_base`` seconds, doubling per attempt up
to ``alert_retry_max`` (longer when the receiver's ``Retry-After`` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from gumdrop.backoff import Backoff
from visibility.alerts.messages import conflicts_message, spike_message
from visibility.alerts.sink import AlertSink, DeliveryFailed
from visibility.domain.records import ConflictRecord
from visibility.metrics import VisibilityMetrics
from visibility.rules import RuleSet
from visibility.settings import VisibilitySettings
from visibility.store import StoreError, VisibilityStore

__all__ = ["Alerter"]

log = structlog.get_logger(__name__)


class Alerter:
    """Groups, watches and delivers alerts through ``sink``."""

    def __init__(
        self,
        store: VisibilityStore,
        sink: AlertSink,
        *,
        rules: RuleSet,
        settings: VisibilitySettings,
        metrics: VisibilityMetrics,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.sink = sink
        self.rules = rules
        self.settings = settings
        self.metrics = metrics
        self.backoff = Backoff(first=settings.alert_retry_base, ceiling=settings.alert_retry_max)
        self._now = now or (lambda: datetime.now(UTC))
        self._responders = {rule.id: rule.first_responder for rule in rules.rules}
        self._task: asyncio.Task[None] | None = None

    def use_rules(self, rules: RuleSet) -> None:
        """Name the first responders of ``rules`` from now on (a changed rules file)."""
        self.rules = rules
        self._responders = {**self._responders, **{rule.id: rule.first_responder for rule in rules.rules}}

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="visibility-alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sink.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except StoreError as exc:  # the next run tries again; nothing is lost meanwhile
                log.warning("alert run failed", error=str(exc))
            await asyncio.sleep(self.settings.alert_interval)

    async def run_once(self) -> int:
        """One run: group, watch, deliver. Returns how many messages were delivered."""
        now = self._now()
        await self.group(now)
        await self.watch_rate(now)
        return await self.deliver(now)

    def _build(self, rule: str, conflicts: list[ConflictRecord]) -> dict[str, object]:
        return conflicts_message(
            rule, conflicts, ui_base=self.settings.ui_base, first_responder=self._responders.get(rule)
        )

    async def group(self, now: datetime) -> list[int]:
        window_start = now - timedelta(seconds=self.settings.alert_group_window)
        return await self.store.group_alerts(window_start=window_start, at=now, build=self._build)

    async def watch_rate(self, now: datetime) -> int | None:
        """Queue a spike message when the conflict rate is above the threshold; its id, or None."""
        window = timedelta(seconds=self.settings.alert_spike_window)
        counts = await self.store.counts(since=now - window)
        events, conflicting = counts.get("events", 0), counts.get("conflicting", 0)
        if events < self.settings.alert_spike_min_events:
            return None
        rate = conflicting / events * 100.0
        if rate <= self.settings.alert_spike_percent:
            return None
        last = await self.store.last_alert_at(kind="spike")
        if last is not None and last > now - window:
            return None
        body = spike_message(
            rate_percent=rate,
            threshold_percent=self.settings.alert_spike_percent,
            events=events,
            conflicting=conflicting,
            window=window,
            ui_base=self.settings.ui_base,
        )
        log.warning("conflict rate spike", rate=round(rate, 2), events=events)
        return await self.store.add_alert_message(kind="spike", rule=None, body=body, at=now)

    async def deliver(self, now: datetime) -> int:
        delivered = 0
        for message in await self.store.undelivered_alert_messages():
            if message.next_attempt_at > now:
                break  # the oldest waits for its retry: the later ones keep their place behind it
            try:
                await self.sink.send(message.body)
            except DeliveryFailed as exc:
                pause = self.backoff.pause(message.attempts + 1)
                if exc.retry_after is not None:
                    pause = max(pause, exc.retry_after)
                await self.store.alert_failed(message.id, error=str(exc), retry_at=now + timedelta(seconds=pause))
                self.metrics.alerts.labels("failed").inc()
                log.warning("alert not delivered; retrying", message_id=message.id, error=str(exc), pause=pause)
                break  # the receiver is down: the rest keeps its order and waits
            await self.store.alert_delivered(message.id, at=now)
            self.metrics.alerts.labels("delivered").inc()
            delivered += 1
        return delivered
