"""The visibility layer running on a bus: the migrated store, the detector, the lifecycle, alerts and the API.

``visibility serve`` runs it with its own bus; ``33god up`` can run it beside the others
on theirs. Start order: migrate, restore the detector's memory, consume, then serve;
stop order: stop consuming (the events in hand are committed), stop the timers, publish
what is pending, close the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from bloodbank import Bus
from gumdrop.access_control import Access
from gumdrop.background import Background
from visibility.alerts import Alerter, AlertSink, SlackWebhook, escalation_message
from visibility.api import create_api
from visibility.detector import Detector
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher, bus_sender
from visibility.rules import RuleSet, load_rules
from visibility.rules_watch import RulesWatcher
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

__all__ = ["OKR_REFRESH_SECONDS", "VisibilityService"]

log = structlog.get_logger(__name__)

OKR_REFRESH_SECONDS = 30.0
"""Seconds between refreshes of the ``visibility_okr_*`` gauges."""


class VisibilityService:
    """The detector, lifecycle, alerts and API of the visibility layer over one started :class:`~bloodbank.Bus`.

    ``rules`` defaults to ``settings.rules`` (or the shipped default; a bad file raises
    :class:`~visibility.rules.RulesError`); ``sink`` defaults to the Slack webhook of the
    settings, and alerting is off when there is neither.
    """

    def __init__(
        self,
        settings: VisibilitySettings,
        bus: Bus,
        *,
        registry: CollectorRegistry | None = None,
        rules: RuleSet | None = None,
        sink: AlertSink | None = None,
        now: Callable[[], datetime] | None = None,
        access: Access | None = None,
    ) -> None:
        self.settings = settings
        self.access = access or Access.from_settings(origins=settings.cors_origins, host=settings.host)
        self.bus = bus
        self.rules = rules or load_rules(settings.rules)
        self.metrics = VisibilityMetrics(registry)
        self.store = VisibilityStore.open(settings.sqlalchemy_url, connect_args=settings.connect_args)
        self.publisher = OutboxPublisher(self.store, bus_sender(bus), interval=settings.publish_interval, now=now)
        if sink is None and settings.slack_webhook_url:
            sink = SlackWebhook(settings.slack_webhook_url, timeout=settings.alert_timeout)
        self.lifecycle = Lifecycle(
            self.store,
            rules=self.rules,
            publisher=self.publisher,
            interval=settings.escalation_interval,
            now=now,
            escalation_message=None if sink is None else partial(escalation_message, ui_base=settings.ui_base),
        )
        self.alerter = (
            None
            if sink is None
            else Alerter(self.store, sink, rules=self.rules, settings=settings, metrics=self.metrics, now=now)
        )
        self.detector = Detector(
            bus,
            self.store,
            rules=self.rules,
            metrics=self.metrics,
            publisher=self.publisher,
            alerting=self.alerter is not None,
            batch_size=settings.batch_size,
            batch_wait=settings.batch_wait,
            prefetch=settings.prefetch,
            now=now,
        )
        self._now = now or (lambda: datetime.now(UTC))
        self.api: FastAPI = create_api(
            self.store,
            settings=settings,
            lifecycle=self.lifecycle,
            metrics=self.metrics,
            access=self.access,
            rules=lambda: self.rules,
            broker_connected=lambda: bus.transport.connected,
            now=now,
        )
        self.background = Background()
        self.rules_watcher = (
            None
            if settings.rules is None or rules is not None
            else RulesWatcher(settings.rules, self.use_rules, reloads=self.metrics.rules_reloads)
        )

    def use_rules(self, rules: RuleSet) -> None:
        """Switch the detector, the escalations and the alerts to ``rules`` (a changed rules file)."""
        self.rules = rules
        self.detector.use_rules(rules)
        self.lifecycle.use_rules(rules)
        if self.alerter is not None:
            self.alerter.use_rules(rules)

    async def start(self, *, migrate: bool = True) -> None:
        """Migrate (unless told not to), then detect, escalate, alert and publish."""
        if migrate:
            await self.store.migrate()
        await self.publisher.start()
        await self.detector.start()
        await self.lifecycle.start()
        if self.alerter is not None:
            await self.alerter.start()
        else:
            log.info("alerting is off: VISIBILITY_SLACK_WEBHOOK_URL is not set")
        self.background.every(self.settings.prune_interval, self._prune, name="visibility-prune")
        self.background.every(OKR_REFRESH_SECONDS, self._refresh_okr, name="visibility-okr")
        if self.rules_watcher is not None:
            self.background.every(self.settings.rules_check_interval, self._check_rules, name="visibility-rules")

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Commit the events in hand (within ``timeout``), stop the timers, publish what is pending, close."""
        await self.background.stop()
        await self.detector.stop(timeout=timeout)
        await self.lifecycle.stop()
        if self.alerter is not None:
            await self.alerter.stop()
        await self.publisher.stop()
        await self.store.close()
        await self.access.close()

    async def _check_rules(self) -> None:
        if self.rules_watcher is not None:
            self.rules_watcher.check()

    async def _prune(self) -> None:
        self.detector.prune()

    async def _refresh_okr(self) -> None:
        figures = await self.store.okr(
            now=self._now(),
            period=timedelta(seconds=self.settings.okr_window),
            sla=timedelta(seconds=self.settings.resolution_sla),
        )
        self.metrics.set_okr(figures)
        self.metrics.set_rule_health(await self.store.rule_health(self.rules.rules, now=self._now()))
