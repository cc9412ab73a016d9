"""The Patterns page in headless Chromium, over retail events and a conflict that went through the platform.

An inventory snapshot, then an offer naming it as its parent and contradicting it: the detector
publishes a conflict naming both, so the event-type flow has edges. The page is read as a person
reads it (graph, its edge table, hot spots), used by keyboard, screenshotted at a laptop's and a
phone's width in light and dark, and checked by axe-core.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.candybar.browsing import WAIT_MS, assert_accessible, publish, shoot_widths_and_themes, wait_stored
from tests.candybar.harness import RunningPlatform, running_platform

pytestmark = pytest.mark.browser

SNAPSHOT, OFFER = "retail.inventory.snapshot.v1", "retail.offer.surfaced.v1"
DETECTED = "visibility.conflict.detected.v1"
PRODUCT = "1004417382"
TEAM = "magic-apron"


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("platform"), visibility=True) as running:
        yield running


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contradiction(platform: RunningPlatform) -> str:
    """A snapshot with none on hand, then an offer of it in stock naming the snapshot; the store's name."""
    store = f"store-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    items = [{"product_id": PRODUCT, "on_hand": 0, "price": 39.98}]
    snapshot = publish(
        platform, {"store_id": store, "as_of": _iso(now), "currency": "USD", "items": items}, event_type=SNAPSHOT
    )
    offer = {
        "team": TEAM, "product_id": PRODUCT, "store_id": store, "price": 39.98, "currency": "USD",
        "availability": "in_stock", "quantity": 12, "channel": "app", "customer_facing": True,
        "surfaced_at": _iso(now + timedelta(seconds=1)),
    }  # fmt: skip
    wait_stored(platform, publish(platform, offer, event_type=OFFER, correlation_ids=[snapshot]))
    return store


def wait_detected_stored(platform: RunningPlatform, store: str) -> None:
    """Until Candystore holds the detector's conflict event for ``store``."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{platform.candystore_url}/events",
            params={"event_type": DETECTED, "limit": 100},
            headers=platform.headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        if any(item["payload"]["store_id"] == store for item in answer.json()["items"]):
            return
        time.sleep(0.1)
    pytest.fail(f"no conflict event for {store} was stored")


def test_the_event_type_flow_and_hot_spots_of_the_last_hour(platform, page):
    """The graph draws retail → conflict edges, the edge table says the same, and the hot spots name the conflict."""
    store = contradiction(platform)
    wait_detected_stored(platform, store)
    page.goto(f"{platform.candybar_url}/patterns?range=1h")
    expect(page).to_have_title("Patterns · Candybar")
    graph = page.locator("svg.flow-graph")
    expect(graph).to_be_visible(timeout=WAIT_MS)
    for event_type in (SNAPSHOT, OFFER, DETECTED):
        expect(graph.locator(f'g.node[data-event-type="{event_type}"]')).to_have_count(1)
    for parent, child in ((SNAPSHOT, OFFER), (OFFER, DETECTED)):
        expect(graph.locator(f'g.edge[data-from="{parent}"][data-to="{child}"]')).to_have_count(1)
    edges = page.get_by_role("table", name="Directly-follows edges: parent event type, child event type, count")
    expect(edges.locator("tbody tr").filter(has_text=OFFER).filter(has_text=DETECTED)).to_have_count(1)
    expect(page.get_by_role("table", name="Conflicts by products")).to_contain_text(PRODUCT)
    expect(page.get_by_role("table", name="Conflicts by stores")).to_contain_text(store)
    expect(page.get_by_role("table", name="Conflicts by team pairs")).to_contain_text(f"{TEAM} vs inventory")
    expect(page.locator(".ranges a.active")).to_have_text("Last hour (shown)")

    first = edges.locator("tbody tr").first
    first.focus()
    page.keyboard.press("ArrowDown")
    expect(edges.locator("tbody tr").nth(1)).to_be_focused()

    shoot_widths_and_themes(page, "patterns")
    assert_accessible(page, "the patterns page")


def test_the_range_is_kept_in_the_address(platform, page):
    """Choosing a range changes the address; an unknown range reads as the last 24 hours."""
    page.goto(f"{platform.candybar_url}/patterns?range=nonsense")
    expect(page.locator(".ranges a.active")).to_have_text("Last 24 hours (shown)", timeout=WAIT_MS)
    page.get_by_role("link", name="Last 7 days").click()
    expect(page).to_have_url(f"{platform.candybar_url}/patterns?range=7d")
    expect(page.get_by_role("navigation", name="Pages").get_by_role("link", name="Patterns")).to_have_class("active")
