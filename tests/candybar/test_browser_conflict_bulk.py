"""Conflicts at scale in real headless Chromium: acting on many at once, product and store filters, the OKR tiles.

The visibility layer detects on the platform's bus; each test makes its own conflicts (a
product of its own in stores of their own) and narrows the list to them through the
address. Screenshots at 1366 px and 390 px, light and dark, are saved beside the other
pages' in ``.33god/screenshots/``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, FloatRect, Page, expect

from tests.candybar.browsing import WAIT_MS, WIDTHS, assert_accessible, publish, shoot_widths_and_themes
from tests.candybar.harness import RunningPlatform, running_platform

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("platform"), visibility=True) as running:
        yield running


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contradictions(platform: RunningPlatform, *, stores: int) -> tuple[str, list[dict[str, Any]]]:
    """A product of its own shown in stock in ``stores`` stores that have none on hand: its id and the conflicts."""
    product = f"bulk-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    names = [f"store-{uuid.uuid4().hex[:6]}" for _ in range(stores)]
    for store in names:
        publish(
            platform,
            {
                "store_id": store,
                "as_of": _iso(now),
                "currency": "USD",
                "items": [{"product_id": product, "on_hand": 0, "price": 19.99}],
            },
            event_type="retail.inventory.snapshot.v1",
        )
        publish(
            platform,
            {
                "team": "magic-apron",
                "product_id": product,
                "store_id": store,
                "price": 19.99,
                "currency": "USD",
                "availability": "in_stock",
                "quantity": 3,
                "channel": "app",
                "customer_facing": True,
                "surfaced_at": _iso(now + timedelta(seconds=1)),
            },
            event_type="retail.offer.surfaced.v1",
        )
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(f"{platform.visibility_url}/conflicts", params={"product_id": product}, timeout=10)
        assert answer.status_code == 200, answer.text
        found = answer.json()["items"]
        if len(found) == stores:
            return product, sorted(found, key=lambda item: str(item["store_id"]))
        time.sleep(0.1)
    pytest.fail(f"{stores} conflicts on {product} were not detected")


def conflict(platform: RunningPlatform, conflict_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{platform.visibility_url}/conflicts/{conflict_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def open_conflicts(page: Page, platform: RunningPlatform, query: str) -> None:
    page.goto(f"{platform.candybar_url}/conflicts?{query}")
    expect(page.locator(".okr-tiles .indicator")).to_have_count(6, timeout=WAIT_MS)


def fits(page: Page, width: int) -> None:
    """Nothing on the page runs off a screen ``width`` px wide (the list scrolls sideways in its own box)."""
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide on a {width} px screen"


@pytest.mark.parametrize("width", WIDTHS.values())
def test_select_all_with_the_keyboard_then_acknowledge_and_accept_with_one_note(platform, page, width):
    """Selected by keyboard, three conflicts are acknowledged (one refused, as it said), then accepted with one note."""
    product, found = contradictions(platform, stores=3)
    ids = [item["conflict_id"] for item in found]
    page.set_viewport_size({"width": width, "height": 900})
    taken = httpx.post(
        f"{platform.visibility_url}/conflicts/{ids[0]}/actions", json={"action": "acknowledge", "actor": "kim"}
    )
    assert taken.status_code == 200, taken.text
    open_conflicts(page, platform, f"status=unresolved&product_id={product}")
    rows = page.locator("table.conflict-list tbody tr")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(page.locator('input[name="product_id"]')).to_have_value(product)

    select_all = page.locator('input[name="select-all"]')
    select_all.focus()
    page.keyboard.press("Space")
    expect(page.locator("input[data-select]:checked")).to_have_count(3)
    expect(page.locator(".bulk-actions .selected-count")).to_have_text("3 selected")
    page.keyboard.press("Space")  # and off again
    expect(page.locator("input[data-select]:checked")).to_have_count(0)
    page.locator(f'input[data-select="{ids[1]}"]').check()
    expect(select_all).to_have_js_property("indeterminate", value=True)
    select_all.check()
    expect(page).to_have_url(f"{platform.candybar_url}/conflicts?status=unresolved&product_id={product}")

    page.locator('.bulk-actions input[name="actor"]').fill("store-ops@example.com")
    page.locator('button[data-bulk-action="acknowledge"]').click()
    outcome = page.locator(".bulk-actions .outcome")
    expect(outcome).to_contain_text("2 acknowledged, 1 refused", timeout=WAIT_MS)
    expect(outcome).to_contain_text(f"conflict {ids[0]} is already acknowledged")
    expect(page.locator(".bulk-actions .selected-count")).to_have_text("1 selected")  # the refused one stays
    for conflict_id in ids[1:]:
        expect(page.locator(f'tr[data-conflict-id="{conflict_id}"]')).to_contain_text("acknowledged", timeout=WAIT_MS)

    select_all.check()
    page.locator('button[data-bulk-action="accept"]').click()  # no reason: refused before asking
    expect(outcome).to_contain_text("a reason is required to accept")
    expect(page.locator('textarea[name="bulk-note"]')).to_have_attribute("aria-invalid", "true")
    page.locator('textarea[name="bulk-note"]').fill("bundle price agreed with the store")
    fits(page, width)
    assert_accessible(page, "the conflicts page with a selection")
    if width == WIDTHS["wide"]:
        shoot_widths_and_themes(page, "conflicts-bulk")
        page.set_viewport_size({"width": width, "height": 900})
    page.locator('button[data-bulk-action="accept"]').click()
    expect(outcome).to_contain_text("3 accepted", timeout=WAIT_MS)
    expect(page.get_by_text("No conflict matches")).to_be_visible(timeout=WAIT_MS)
    for conflict_id in ids:
        stored = conflict(platform, conflict_id)
        assert stored["status"] == "accepted"
        last = stored["actions"][-1]
        assert (last["action"], last["actor"], last["note"]) == (
            "accept",
            "store-ops@example.com",
            "bundle price agreed with the store",
        )
    assert [a["actor"] for a in conflict(platform, ids[1])["actions"]] == ["store-ops@example.com"] * 2


@pytest.mark.parametrize("width", WIDTHS.values())
def test_product_and_store_filters_live_in_the_address(platform, page, width):
    """Typing a store narrows the list and the address; the address opens the same filtered list again."""
    product, found = contradictions(platform, stores=2)
    page.set_viewport_size({"width": width, "height": 900})
    open_conflicts(page, platform, f"status=unresolved&product_id={product}")
    expect(page.locator("table.conflict-list tbody tr")).to_have_count(2, timeout=WAIT_MS)
    store = found[1]["store_id"]
    field = page.locator('input[name="store_id"]')
    field.fill(store)
    field.press("Enter")
    expect(page.locator("table.conflict-list tbody tr")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(f'tr[data-conflict-id="{found[1]["conflict_id"]}"]')).to_be_visible()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"status": ["unresolved"], "product_id": [product], "store_id": [store]}
    page.reload()
    expect(page.locator('input[name="store_id"]')).to_have_value(store, timeout=WAIT_MS)
    expect(page.locator('input[name="product_id"]')).to_have_value(product)
    expect(page.locator("table.conflict-list tbody tr")).to_have_count(1, timeout=WAIT_MS)
    fits(page, width)
    if width == WIDTHS["wide"]:
        shoot_widths_and_themes(page, "conflicts-filtered")
    page.locator('input[name="product_id"]').fill("")
    page.locator('input[name="product_id"]').press("Enter")
    expect(page).to_have_url(f"{platform.candybar_url}/conflicts?status=unresolved&store_id={store}")


def tile_boxes(page: Page) -> list[FloatRect]:
    tiles = page.locator(".okr-tiles .indicator")
    return [box for n in range(tiles.count()) if (box := tiles.nth(n).bounding_box()) is not None]


def overlaps(first: FloatRect, second: FloatRect) -> bool:
    return (
        first["x"] < second["x"] + second["width"] - 0.5
        and second["x"] < first["x"] + first["width"] - 0.5
        and first["y"] < second["y"] + second["height"] - 0.5
        and second["y"] < first["y"] + first["height"] - 0.5
    )


@pytest.mark.parametrize("width", WIDTHS.values())
def test_okr_tiles_say_nothing_due_yet_and_never_overlap(platform, page, width):
    """No conflict is 24 h old: the resolution tile says so; at each width the six tiles sit side by side, apart."""
    contradictions(platform, stores=1)
    page.set_viewport_size({"width": width, "height": 900})
    open_conflicts(page, platform, "status=unresolved")
    resolution = page.locator('[data-okr="resolution_rate_24h_percent"]')
    expect(resolution.locator(".value")).to_have_text("nothing due yet", timeout=WAIT_MS)
    expect(resolution).to_have_attribute("data-grade", "none")
    okr = httpx.get(f"{platform.visibility_url}/okr", timeout=10).json()
    assert (okr["resolution_rate_24h_percent"], okr["resolutions_due"]) == (None, 0)
    expect(page.locator('[data-okr="conflict_rate_percent"] .value')).not_to_have_text("no events yet")
    for theme in ("light", "dark"):
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        boxes = tile_boxes(page)
        assert len(boxes) == 6
        for n, box in enumerate(boxes):
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= width, f"tile {n} runs off a {width} px screen"
            assert not any(overlaps(box, other) for other in boxes[n + 1 :]), f"tile {n} overlaps another"
        spilling = page.evaluate(
            "() => [...document.querySelectorAll('.okr-tiles .indicator')]"
            ".filter((tile) => tile.scrollWidth > tile.clientWidth).map((tile) => tile.dataset.okr)"
        )
        assert spilling == [], f"the text of {spilling} runs out of its tile"
        fits(page, width)
    page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
    if width == WIDTHS["wide"]:
        shoot_widths_and_themes(page, "conflicts-okr")


@pytest.mark.parametrize("width", WIDTHS.values())
def test_a_rule_disputed_too_often_is_flagged_above_the_list_with_its_suggestion(platform, page, width):
    """Once a rule's disputes pass 20 % of its resolutions, the page names the rule, its share and the change."""
    if width == WIDTHS["wide"]:
        _, found = contradictions(platform, stores=10)
        ids = [item["conflict_id"] for item in found]
        for action, chosen, note in [
            ("acknowledge", ids, None),
            ("dispute", ids[:8], "the shelf count was right"),
            ("accept", ids[8:], "stock was on its way"),
        ]:
            answer = httpx.post(
                f"{platform.visibility_url}/conflict-actions",
                json={"conflict_ids": chosen, "action": action, **({"note": note} if note else {})},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
        rules = httpx.get(f"{platform.visibility_url}/rules", timeout=10).json()
        assert "inventory_contradiction" in rules["flagged"], rules
    page.set_viewport_size({"width": width, "height": 900})
    open_conflicts(page, platform, "status=unresolved")
    flagged = page.locator('.flagged-rules [data-rule="inventory_contradiction"]')
    expect(flagged).to_contain_text("resolutions disputed", timeout=WAIT_MS)
    expect(flagged).to_contain_text("limit 20%")
    assert_accessible(page, "conflicts with a flagged rule")
    fits(page, width)
    if width == WIDTHS["wide"]:
        shoot_widths_and_themes(page, "conflicts-flagged-rule")
