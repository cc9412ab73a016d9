"""False-positive control: a rule whose resolutions are disputed too often is flagged, with a change to make."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client import CollectorRegistry

from gumdrop.access_control import Access
from visibility.api import create_api
from visibility.domain.detection import DetectionEngine
from visibility.domain.rule_health import RuleOutcomes, judge_rule
from visibility.domain.transitions import Action
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.rules import load_rules
from visibility.settings import VisibilitySettings

from .retail import at, check, offer
from .test_store import write_of

RULES = load_rules()


@asynccontextmanager
async def api_client(store: Any, *, metrics: VisibilityMetrics) -> AsyncIterator[httpx.AsyncClient]:
    async def unsent(_event: Any) -> None:
        raise AssertionError("nothing is published by reading the rules")

    app = create_api(
        store,
        settings=VisibilitySettings(),
        lifecycle=Lifecycle(store, rules=RULES, publisher=OutboxPublisher(store, unsent)),
        metrics=metrics,
        access=Access.open(),
        rules=lambda: RULES,
        now=lambda: at(3600),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        yield client


def test_a_rule_is_flagged_past_its_disputed_share_with_a_threshold_to_raise():
    """Past 20 % disputes over at least 10 resolutions: flagged; the suggestion leaves out 4 in 5 disputed ones."""
    price = RULES.rule("price_mismatch")
    health = judge_rule(price, RuleOutcomes(resolved=20, disputed=5, disputed_measured=[5.5, 6.0, 6.2, 7.1, 30.0]))
    assert (health.disputed_share_percent, health.flagged) == (25.0, True)
    assert health.suggested_threshold == 7.5
    assert health.suggestion == (
        "disputed conflicts were at most 7.1 % apart in four cases of five: "
        "raise relative_difference_above from 5 to 7.5"
    )


@pytest.mark.parametrize(
    ("resolved", "disputed"),
    [(20, 4), (9, 9), (0, 0)],
    ids=["at the share", "too few resolutions", "nothing resolved"],
)
def test_a_rule_within_its_share_or_with_too_few_resolutions_is_not_flagged(resolved, disputed):
    """Exactly 20 % is within; fewer than 10 resolutions are not judged."""
    health = judge_rule(RULES.rule("price_mismatch"), RuleOutcomes(resolved, disputed, [6.0] * disputed))
    assert not health.flagged
    assert health.suggestion is None
    assert health.disputed_share_percent == (round(disputed / resolved * 100, 2) if resolved else None)


def test_contradiction_and_exclusive_rules_get_their_own_suggestions():
    """A contradiction table's at_least bound is raised past the disputed on-hand counts; a slot rule has no number."""
    inventory = judge_rule(RULES.rule("inventory_contradiction"), RuleOutcomes(10, 6, [0, 12, 14, 15, 18, 40]))
    assert inventory.suggested_threshold == 19.0
    assert "raise at_least from 10 to 19" in (inventory.suggestion or "")
    screen = judge_rule(RULES.rule("screen_space"), RuleOutcomes(10, 3, []))
    assert screen.flagged
    assert screen.suggested_threshold is None
    assert (screen.suggestion or "").startswith(
        "no threshold to move: narrow the entity (page, slot, channel, store_id)"
    )


async def test_get_rules_flags_a_rule_past_its_disputed_share(store):
    """The rules in force come with their health: 3 disputes in 10 resolutions flag price_mismatch."""
    engine = DetectionEngine(RULES)
    opened = []
    for index in range(10):
        check(engine, offer("magic-apron", store=f"s{index}", price=10.0))
        findings = check(engine, offer("sponsored", store=f"s{index}", price=10.6 + index / 10, seconds=1))
        result = await store.write_detections(write_of(engine, findings, seconds=2))
        opened += result.opened
    for index, conflict in enumerate(opened):
        await store.act(conflict.conflict_id, Action.ACKNOWLEDGE, actor="lead", note=None, at=at(10))
        action = Action.DISPUTE if index < 3 else Action.FIX
        await store.act(conflict.conflict_id, action, actor="lead", note="not a conflict", at=at(20))
    metrics = VisibilityMetrics(CollectorRegistry())
    async with api_client(store, metrics=metrics) as client:
        answer = await client.get("/rules")
        assert answer.status_code == 200
        body = answer.json()
        assert body["flagged"] == ["price_mismatch"]
        price = next(rule for rule in body["rules"] if rule["id"] == "price_mismatch")
        assert price["comparison"] == "relative_difference_above"
        assert price["entity"] == ["product_id", "store_id"]
        assert price["health"]["disputed_share_percent"] == 30.0
        assert price["health"]["suggested_threshold"] == 8.0  # the disputed ones were 6 %, 7 % and 8 % apart
        assert (await client.get("/rules", params={"x": "1"})).status_code == 422
    health = await store.rule_health(RULES.rules, now=at(3600))
    metrics.set_rule_health(health)
    assert metrics.registry.get_sample_value("visibility_rule_flagged", {"rule": "price_mismatch"}) == 1
    assert metrics.registry.get_sample_value("visibility_rule_disputed_share_ratio", {"rule": "price_mismatch"}) == 0.3
    assert metrics.registry.get_sample_value("visibility_rule_flagged", {"rule": "screen_space"}) == 0
