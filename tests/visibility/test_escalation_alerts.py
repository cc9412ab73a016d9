"""Slack messages on escalation, against the local stand-in for the webhook: one per step, once across restarts."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry

from visibility.alerts import Alerter, SlackWebhook, escalation_message
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.settings import VisibilitySettings

from .retail import at
from .service_helpers import Clock, eventually, running_service, started_bus, visibility_settings
from .slack_stand_in import SlackStandIn
from .test_api import RULES, Sent, seed

UI = "http://ui.example:8684"


@pytest.fixture
async def slack():
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def http():
    """One HTTP client for the webhook across the restarts of a test (the sinks built on it do not own it)."""
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def started(store: Any, slack: SlackStandIn, http: httpx.AsyncClient, clock: Clock) -> tuple[Lifecycle, Alerter]:
    """The lifecycle and the alerter as a (re)started service builds them."""
    settings = VisibilitySettings.model_validate({"candybar_url": f"{UI}/", "alert_spike_min_events": 1000})
    lifecycle = Lifecycle(
        store,
        rules=RULES,
        publisher=OutboxPublisher(store, Sent()),
        now=clock.now,
        escalation_message=partial(escalation_message, ui_base=settings.ui_base),
    )
    alerter = Alerter(
        store,
        SlackWebhook(slack.url, timeout=5, client=http),
        rules=RULES,
        settings=settings,
        metrics=VisibilityMetrics(CollectorRegistry()),
        now=clock.now,
    )
    return lifecycle, alerter


def escalations(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [message for message in slack.received if message["text"].startswith("*Escalated to ")]


async def test_each_escalation_step_sends_one_message_even_across_restarts(store, slack, http):
    """Each step posts who it went to, the level, the conflict and its link, once, though the runners restart."""
    await seed(store)
    conflicts = (await store.conflicts()).items
    clock = Clock(at(0))
    lifecycle, alerter = started(store, slack, http, clock)
    clock.advance(hours=24, seconds=20)
    assert len(await lifecycle.escalate()) == len(conflicts)
    assert await alerter.run_once() == len(conflicts)
    first = escalations(slack)
    assert len(first) == len(conflicts)
    inventory = next(c for c in conflicts if c.rule == "inventory_contradiction")
    authority = RULES.rule(inventory.rule).escalation[0].to
    [message] = [m for m in first if f"{UI}/conflicts/{inventory.conflict_id}|open>" in m["text"]]
    title = f"Escalated to {authority} (decision authority): inventory_contradiction conflict (high, open)"
    assert message["blocks"][0]["text"]["text"] == title
    assert "Unresolved 24 h after detection." in message["text"]
    assert str(inventory.details["summary"]) in message["text"]
    assert f"product {inventory.product_id} at {inventory.store_id}" in message["text"]

    lifecycle, alerter = started(store, slack, http, clock)  # a restart: nothing is escalated or sent again
    assert await lifecycle.escalate() == []
    assert await alerter.run_once() == 0
    assert len(escalations(slack)) == len(conflicts)

    clock.advance(hours=48)
    lifecycle, alerter = started(store, slack, http, clock)
    assert len(await lifecycle.escalate()) == len(conflicts)
    assert await alerter.run_once() == len(conflicts)
    second = escalations(slack)[len(conflicts) :]
    executive = RULES.rule(inventory.rule).escalation[1].to
    [message] = [m for m in second if str(inventory.conflict_id) in m["text"]]
    assert message["text"].startswith(f"*Escalated to {executive} (executive): ")
    assert f"Unresolved 48 h after escalation to {authority}." in message["text"]
    kinds = [queued.kind for queued in await store.alert_messages()]
    assert kinds == ["escalation"] * (2 * len(conflicts))


async def test_a_message_queued_while_the_webhook_is_down_goes_out_once_it_is_back(store, slack, http):
    """The step commits its message with it: an outage at the webhook delays the message, never loses or repeats it."""
    await seed(store)
    clock = Clock(at(0))
    lifecycle, alerter = started(store, slack, http, clock)
    slack.status = 503
    clock.advance(hours=25)
    escalated = await lifecycle.escalate()
    assert escalated
    assert await alerter.run_once() == 0
    slack.status = 200
    clock.advance(minutes=10)
    lifecycle, alerter = started(store, slack, http, clock)
    assert await lifecycle.escalate() == []
    assert await alerter.run_once() == len(escalated)
    assert len(escalations(slack)) == len(escalated)


async def test_without_alerting_an_escalation_queues_no_message(store):
    """A lifecycle with no message builder (no webhook) escalates and leaves the alert outbox empty."""
    await seed(store)
    clock = Clock(at(0) + timedelta(hours=25))
    lifecycle = Lifecycle(store, rules=RULES, publisher=OutboxPublisher(store, Sent()), now=clock.now)
    assert await lifecycle.escalate()
    assert await store.alert_messages() == []


async def test_the_service_sends_escalations_to_its_webhook(tmp_path, sqlite_database, slack):
    """Wired by the service, the escalation timer's steps reach the webhook; a restarted service sends none again."""
    clock = Clock(at(0))
    settings = visibility_settings(sqlite_database, tmp_path, candybar_url=UI, slack_webhook_url=slack.url)
    async with started_bus(tmp_path) as bus:
        async with running_service(settings, bus, rules=RULES, clock=clock) as service:
            await seed(service.store)
            count = len((await service.store.conflicts()).items)
            clock.advance(hours=24, seconds=20)
            await eventually(lambda: _at_least(slack, count), what="the escalation messages")
        async with running_service(settings, bus, rules=RULES, clock=clock) as service:
            assert await service.lifecycle.escalate() == []
            assert service.alerter is not None
            assert await service.alerter.run_once() == 0
    assert len(escalations(slack)) == count


async def _at_least(slack: SlackStandIn, count: int) -> bool:
    return len(escalations(slack)) >= count
