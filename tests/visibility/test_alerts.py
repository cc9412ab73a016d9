"""Slack alerts against a local stand-in for the webhook: grouping, spikes, and an outage that loses nothing."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from visibility.alerts import Alerter, MemorySink, SlackWebhook
from visibility.domain.detection import DetectionEngine
from visibility.metrics import VisibilityMetrics
from visibility.rules import load_rules
from visibility.settings import VisibilitySettings
from visibility.store.detections import DetectionWrite

from .retail import at, check, offer, snapshot
from .service_helpers import Clock, running_service, started_bus, visibility_settings
from .slack_stand_in import SlackStandIn

RULES = load_rules()


def alert_settings(**overrides: object) -> VisibilitySettings:
    values: dict[str, object] = {
        "candybar_url": "http://ui.example:8684/",
        "alert_group_window": 60.0,
        "alert_spike_percent": 50.0,
        "alert_spike_window": 300.0,
        "alert_spike_min_events": 1000,
        "alert_retry_base": 2.0,
        "alert_retry_max": 30.0,
        **overrides,
    }
    return VisibilitySettings.model_validate(values)


async def open_conflicts(store, *, stores: int, seconds: float = 0.0) -> None:
    """``stores`` inventory contradictions and one price mismatch, written with alerting on."""
    engine = DetectionEngine(RULES)
    findings = []
    for index in range(stores):
        check(engine, snapshot(store=f"s{index}", seconds=seconds, items={"p1": (0, 10.0)}))
        findings += check(engine, offer(store=f"s{index}", availability="in_stock", quantity=4, seconds=seconds))
    check(engine, offer("sponsored", product="p2", store="s0", price=10.0, seconds=seconds))
    findings += check(engine, offer("recs-search", product="p2", store="s0", price=12.5, seconds=seconds))
    await store.write_detections(
        DetectionWrite(
            findings=findings,
            changes=engine.state.take_changes(),
            counts=engine.take_counts(),
            detected_at=at(seconds),
            first_escalation=lambda rule: RULES.rule(rule).escalation[0].after,
            alerting=True,
        )
    )


@pytest.fixture
async def slack():
    stand_in = SlackStandIn()
    yield stand_in
    await stand_in.stop()


async def test_new_conflicts_are_grouped_per_rule_into_readable_messages(store, slack):
    """A burst of one rule's conflicts becomes one message once the window passed, with values and links."""
    await slack.start()
    clock = Clock(at(0))
    alerter = Alerter(
        store,
        SlackWebhook(slack.url, timeout=5),
        rules=RULES,
        settings=alert_settings(),
        metrics=VisibilityMetrics(CollectorRegistry()),
        now=clock.now,
    )
    await open_conflicts(store, stores=3)
    clock.advance(seconds=30)
    assert await alerter.run_once() == 0  # still inside the group window
    clock.advance(seconds=31)
    assert await alerter.run_once() == 2
    by_title = {message["blocks"][0]["text"]["text"]: message for message in slack.received}
    assert set(by_title) == {"3 new inventory_contradiction conflicts (high)", "1 new price_mismatch conflict (medium)"}
    inventory = by_title["3 new inventory_contradiction conflicts (high)"]["text"]
    assert "product p1 at s0, teams magic-apron: magic-apron: 10.00, in stock (4) vs inventory: 10.00, 0 on hand" in (
        inventory
    )
    assert inventory.count("<http://ui.example:8684/conflicts/") == 3
    assert "First responder: inventory-team." in inventory
    price = by_title["1 new price_mismatch conflict (medium)"]["text"]
    assert "sponsored showed 10.00 USD for product p2 at s0 while recs-search showed 12.50 USD" in price
    assert await alerter.run_once() == 0  # nothing is sent twice
    await alerter.stop()


async def test_an_outage_delays_alerts_and_loses_none(store, slack):
    """With the webhook down, then failing, messages stay queued with a growing pause and go out when it is back."""
    clock = Clock(at(0))
    alerter = Alerter(
        store,
        SlackWebhook(slack.url, timeout=5),
        rules=RULES,
        settings=alert_settings(alert_group_window=0.0),
        metrics=(metrics := VisibilityMetrics(CollectorRegistry())),
        now=clock.now,
    )
    await open_conflicts(store, stores=1)
    assert await alerter.run_once() == 0  # nothing listens
    [first, second] = await store.alert_messages()
    assert (first.attempts, first.delivered_at, second.attempts) == (1, None, 0)
    assert first.last_error is not None
    assert first.last_error.startswith("the webhook did not answer")
    await slack.start()
    slack.status = 503
    slack.retry_after = "7"
    assert await alerter.run_once() == 0  # not due yet: the first pause is 2 s
    clock.advance(seconds=2)
    assert await alerter.run_once() == 0
    [first, _] = await store.alert_messages()
    assert first.attempts == 2
    assert first.last_error == "the webhook answered 503: service_unavailable"
    slack.status = 200
    clock.advance(seconds=4)
    assert await alerter.run_once() == 0  # Retry-After asked for 7 s
    clock.advance(seconds=3)
    assert await alerter.run_once() == 2
    assert len(slack.received) == 2
    assert all(message.delivered_at is not None for message in await store.alert_messages())
    assert metrics.registry.get_sample_value("visibility_alert_deliveries_total", {"outcome": "failed"}) == 2
    await alerter.stop()


async def test_a_spike_of_the_conflict_rate_raises_one_alert_per_window(store):
    """When conflicting events pass the threshold share of the window's events, one spike message is queued."""
    sink = MemorySink()
    clock = Clock(at(0))
    alerter = Alerter(
        store,
        sink,
        rules=RULES,
        settings=alert_settings(alert_spike_min_events=4, alert_spike_percent=40.0, alert_group_window=600.0),
        metrics=VisibilityMetrics(CollectorRegistry()),
        now=clock.now,
    )
    await open_conflicts(store, stores=2)  # 6 events, 3 of them conflicting: 50 %
    assert await alerter.run_once() == 1
    [spike] = sink.sent
    assert spike["text"].startswith("*Conflict rate spike: 50.0 % of events in the last 5 min*")
    assert "3 of 6 retail events" in spike["text"]
    clock.advance(seconds=120)
    assert await alerter.run_once() == 0  # one per window
    clock.advance(seconds=200)
    await open_conflicts(store, stores=2, seconds=320)
    clock.advance(seconds=600)
    assert await alerter.run_once() >= 1


async def test_without_a_webhook_alerting_is_off(tmp_path, sqlite_database):
    """No VISIBILITY_SLACK_WEBHOOK_URL: the service has no alerter and queues nothing."""
    async with (
        started_bus(tmp_path) as bus,
        running_service(visibility_settings(sqlite_database, tmp_path), bus) as service,
    ):
        assert service.alerter is None
        assert not service.detector.alerting
        assert await service.store.alert_messages() == []


def test_unset_and_empty_webhook_settings_mean_off(monkeypatch):
    """An empty VISIBILITY_SLACK_WEBHOOK_URL is the same as unset."""
    monkeypatch.setenv("VISIBILITY_SLACK_WEBHOOK_URL", " ")
    assert VisibilitySettings().slack_webhook_url is None
    monkeypatch.setenv("VISIBILITY_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/x")
    assert VisibilitySettings().slack_webhook_url == "https://hooks.slack.com/services/x"
