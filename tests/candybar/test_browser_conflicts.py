"""The conflicts page in real headless Chromium, with the visibility layer detecting on the platform's bus.

Retail events go in through the gateway; the detector finds the contradiction, and the
page shows it, its evidence, its lifecycle and its trace. Screenshots are saved beside
the other pages' in ``.33god/screenshots/``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.candybar.browsing import WAIT_MS, publish, shoot, wait_stored
from tests.candybar.harness import RunningPlatform, running_platform

pytestmark = pytest.mark.browser

PRODUCT = "1004417382"
TEAM = "magic-apron"


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("platform"), visibility=True) as running:
        yield running


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contradiction(platform: RunningPlatform) -> dict[str, Any]:
    """An inventory with none on hand, then a team showing the product in stock in the same store: one conflict."""
    store = f"store-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    snapshot = publish(
        platform,
        {
            "store_id": store,
            "as_of": _iso(now),
            "currency": "USD",
            "items": [{"product_id": PRODUCT, "on_hand": 0, "price": 39.98}],
        },
        event_type="retail.inventory.snapshot.v1",
    )
    offer = publish(
        platform,
        {
            "team": TEAM,
            "product_id": PRODUCT,
            "store_id": store,
            "price": 39.98,
            "currency": "USD",
            "availability": "in_stock",
            "quantity": 12,
            "channel": "app",
            "customer_facing": True,
            "surfaced_at": _iso(now + timedelta(seconds=1)),
        },
        event_type="retail.offer.surfaced.v1",
    )
    conflict = wait_conflict(platform, store)
    return {"store": store, "snapshot": snapshot, "offer": offer, **conflict}


def wait_conflict(platform: RunningPlatform, store: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(f"{platform.visibility_url}/conflicts", params={"status": "unresolved"}, timeout=10)
        assert answer.status_code == 200, answer.text
        found = [item for item in answer.json()["items"] if item["store_id"] == store]
        if found:
            [item] = found
            return dict(item)
        time.sleep(0.1)
    pytest.fail(f"no conflict was detected in {store}")


def open_conflicts(page: Page, platform: RunningPlatform, query: str = "") -> None:
    page.goto(f"{platform.candybar_url}/conflicts{query}")
    expect(page.locator(".okr-tiles .indicator")).to_have_count(6, timeout=WAIT_MS)


def test_a_detected_conflict_is_listed_with_figures_and_trend(platform, page):
    """A contradiction published through the gateway is listed beside the OKR and counted in the hourly rate."""
    found = contradiction(platform)
    open_conflicts(page, platform)
    row = page.locator(f'tr[data-conflict-id="{found["conflict_id"]}"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    for text in ("inventory_contradiction", "high", PRODUCT, found["store"], TEAM, "open"):
        expect(row).to_contain_text(text)
    expect(page.locator(".tab.active")).to_have_text("Unresolved")
    rate = page.locator('[data-okr="conflict_rate_percent"]')
    expect(rate.locator(".value")).not_to_have_text("—")
    expect(page.locator('[data-okr="customer_impact_incidents_7d"] .value')).not_to_have_text("0")
    bars = page.locator("svg.hour-bars g.bar")
    expect(bars).to_have_count(24)
    labelled = page.locator("svg.hour-bars g.bar[data-label]")  # the hours with conflicts opened
    expect(labelled.first).to_be_visible()
    opened = [labelled.nth(n) for n in range(labelled.count())]
    assert sum(int(bar.get_attribute("data-label") or 0) for bar in opened) >= 1
    assert all(float(bar.get_attribute("data-value") or 0) > 0 for bar in opened)  # their conflict rate
    expect(opened[-1].locator("title")).to_contain_text("% in conflict")
    expect(page.locator(".trend .trend-total")).to_contain_text("opened")
    shoot(page, "conflicts")
    page.goto(f"{platform.candybar_url}/conflicts?status=unresolved&team=nobody-here")
    expect(page.get_by_text("No conflict matches")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('input[name="team"]')).to_have_value("nobody-here")


def test_acknowledge_then_accept_with_a_reason_and_follow_the_trace(platform, page):
    """Both sides of the evidence are shown; acknowledged then accepted with a reason, it leaves the unresolved list."""
    found = contradiction(platform)
    open_conflicts(page, platform)
    page.locator(f'tr[data-conflict-id="{found["conflict_id"]}"] a').click()
    expect(page).to_have_url(f"{platform.candybar_url}/conflicts/{found['conflict_id']}")

    evidence = page.locator("table.evidence")
    expect(evidence.locator("th.side")).to_have_text([f"{TEAM} offer", "Inventory ground truth"], timeout=WAIT_MS)
    expect(evidence.locator('tr[data-field="availability"]')).to_have_class("differs")
    expect(evidence.locator('tr[data-field="availability"] td')).to_have_text(["in stock", "none on hand"])
    expect(evidence.locator('tr[data-field="units"] td')).to_have_text(["12 shown", "0 on hand"])
    expect(evidence.locator('tr[data-field="price"]')).not_to_have_class("differs")
    for event_id in (found["offer"], found["snapshot"]):
        expect(evidence.locator(f'a[href="/events/{event_id}"]')).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("but the inventory's on hand is 0")
    shoot(page, "conflict")

    page.locator('input[name="actor"]').fill("store-ops@example.com")
    page.locator('button[data-action="acknowledge"]').click()
    expect(page.locator('.pill[data-status="acknowledged"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('.history tr[data-action="acknowledge"]')).to_contain_text("store-ops@example.com")

    page.locator('button[data-action="accept"]').click()  # no reason given: refused before asking
    expect(page.locator(".conflict-actions .outcome.error")).to_contain_text("a reason is required to accept")
    expect(page.locator('textarea[name="note"]')).to_have_attribute("aria-invalid", "true")
    page.locator('textarea[name="note"]').fill("the shelf count is being corrected; the offer stays")
    page.locator('button[data-action="accept"]').click()
    expect(page.locator('.pill[data-status="accepted"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('.history tr[data-action="accept"]')).to_contain_text("the shelf count is being corrected")
    for action in ("acknowledge", "fix", "accept", "dispute"):
        expect(page.locator(f'button[data-action="{action}"]')).to_be_disabled()
    stored = httpx.get(f"{platform.visibility_url}/conflicts/{found['conflict_id']}", timeout=10).json()
    assert stored["status"] == "accepted"
    assert [action["action"] for action in stored["actions"]] == ["acknowledge", "accept"]

    page.locator(".toolbar").get_by_role("link", name="All conflicts").click()
    expect(page.locator("table.conflict-list, .state.empty")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(f'tr[data-conflict-id="{found["conflict_id"]}"]')).to_have_count(0)
    page.locator(".tabs").get_by_role("link", name="Resolved", exact=True).click()
    expect(page.locator(f'tr[data-conflict-id="{found["conflict_id"]}"]')).to_contain_text("accepted", timeout=WAIT_MS)

    wait_stored(platform, found["detected_event_id"])
    page.goto(f"{platform.candybar_url}/conflicts/{found['conflict_id']}")
    page.get_by_role("link", name="Trace", exact=True).click()
    expect(page).to_have_url(f"{platform.candybar_url}/trace/{found['detected_event_id']}")
    nodes = page.locator("svg.trace-graph g.node")
    expect(nodes.first).to_be_visible(timeout=WAIT_MS)
    shown = {nodes.nth(n).get_attribute("data-event-id") for n in range(nodes.count())}
    assert {found["detected_event_id"], found["offer"], found["snapshot"]} <= shown
    selected = page.locator("svg.trace-graph g.node.selected")
    assert selected.get_attribute("data-event-id") == found["detected_event_id"]
    for cause in (found["offer"], found["snapshot"]):
        edge = page.locator(f'svg.trace-graph g.edge[data-parent="{cause}"][data-child="{found["detected_event_id"]}"]')
        expect(edge).to_have_count(1)
    shoot(page, "conflict-trace")


def test_an_action_refused_by_the_api_is_shown_as_it_said(platform, page):
    """Acknowledged meanwhile by someone else, the page shows the API's 409 reason and then the conflict as it is."""
    found = contradiction(platform)
    page.goto(f"{platform.candybar_url}/conflicts/{found['conflict_id']}")
    expect(page.locator('.pill[data-status="open"]')).to_be_visible(timeout=WAIT_MS)
    answer = httpx.post(
        f"{platform.visibility_url}/conflicts/{found['conflict_id']}/actions",
        json={"action": "acknowledge", "actor": "someone-else"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    page.locator('button[data-action="acknowledge"]').click()
    outcome = page.locator(".conflict-actions .outcome.error")
    expect(outcome).to_contain_text("The visibility layer answered 409", timeout=WAIT_MS)
    expect(outcome).to_contain_text(f"conflict {found['conflict_id']} is already acknowledged")
    expect(page.locator('.pill[data-status="acknowledged"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator('.history tr[data-action="acknowledge"]')).to_contain_text("someone-else")
    expect(page.locator('button[data-action="fix"]')).to_be_enabled()
    page.get_by_role("button", name="Theme: system").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    shoot(page, "conflict-dark")


def test_an_unknown_conflict_says_so(platform, page):
    """A conflict id the layer does not know answers with an empty state that leads back to the list."""
    page.goto(f"{platform.candybar_url}/conflicts/{uuid.uuid4()}")
    expect(page.get_by_text("No such conflict")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".state.empty a")).to_have_attribute("href", "/conflicts?status=unresolved")
