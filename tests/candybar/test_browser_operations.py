"""Candybar's Consumers and Replay pages in headless Chromium, on a platform of their own.

Each page is used the way an operator uses it (rows by keyboard, the replay counted, confirmed
and followed to its end), screenshotted at a laptop's and a phone's width in light and dark
(``.33god/screenshots/consumers-*.png``, ``replay-*.png``) and checked by axe-core.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from holyfields import default_catalog
from tests.candybar.browsing import WAIT_MS, assert_accessible, publish, shoot_widths_and_themes, wait_stored
from tests.candybar.harness import POISON_CONSUMER, POISON_MARK, RunningPlatform, running_platform

pytestmark = pytest.mark.browser

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("operations")) as running:
        yield running


def workflow(name: str) -> dict[str, Any]:
    return {
        "workflow_id": "Rk3zR5ZlU6cXbd7q",
        "workflow_name": name,
        "execution_id": uuid.uuid4().hex[:12],
        "mode": "webhook",
        "started_at": "2026-11-02T14:03:28.104Z",
        "input": {},
    }


def open_dead_letters(platform: RunningPlatform, consumer: str) -> int:
    answer = httpx.get(
        f"{platform.candystore_url}/dlq", params={"consumer": consumer}, headers=platform.headers, timeout=10
    )
    return len(answer.json()["items"])


def wait_open_dead_letters(platform: RunningPlatform, consumer: str, count: int) -> None:
    """Wait until Candystore keeps ``count`` open dead letters of ``consumer``."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while open_dead_letters(platform, consumer) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{consumer} has fewer than {count} open dead letters")
        time.sleep(0.1)


def test_consumers_shows_each_queue_with_its_tiers_and_dead_letters_by_reason(platform, page: Page) -> None:
    """Each consumer queue is a row with its depth, retry tiers and dead-letter reasons; rows answer the keyboard."""
    for n in range(2):
        wait_stored(platform, publish(platform, workflow(f"{POISON_MARK} {n}")))
    wait_open_dead_letters(platform, POISON_CONSUMER, 2)
    page.goto(f"{platform.candybar_url}/consumers")
    expect(page).to_have_title("Consumers · Candybar")
    rows = page.locator("table.consumers-table tbody tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    poison = page.locator(f'tr[data-queue="{POISON_CONSUMER}"]')
    expect(poison).to_contain_text("PermanentFailure 2")
    expect(poison).to_contain_text("dead letters")
    expect(poison.locator(".tiers li")).to_have_count(3)
    expect(poison.locator(".tiers")).to_contain_text("1 s")
    store_row = page.locator('tr[data-queue="candystore.events"]')
    expect(store_row).to_contain_text("none open")
    expect(page.locator(".reading")).to_contain_text("embedded broker")
    expect(page.locator('[data-shared-queue="unrouted.all"]')).to_contain_text("waiting")
    expect(page.get_by_role("link", name="Consumers")).to_have_class(re.compile("active"))

    rows.first.focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.queue") == "candystore.events"
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.dataset.queue") == POISON_CONSUMER
    shoot_widths_and_themes(page, "consumers")
    assert_accessible(page, "the consumers page")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/dead-letters\?state=open&consumer={re.escape(POISON_CONSUMER)}$"))


def test_consumers_refreshes_by_itself(platform, page: Page) -> None:
    """A dead letter kept after the page opened appears without a reload."""
    before = open_dead_letters(platform, POISON_CONSUMER)
    page.goto(f"{platform.candybar_url}/consumers")
    poison = page.locator(f'tr[data-queue="{POISON_CONSUMER}"]')
    expect(poison).to_be_visible(timeout=WAIT_MS)
    wait_stored(platform, publish(platform, workflow(f"{POISON_MARK} later")))
    wait_open_dead_letters(platform, POISON_CONSUMER, before + 1)
    expect(poison).to_contain_text(f"PermanentFailure {before + 1}", timeout=WAIT_MS)


def local_minutes_ago(page: Page, minutes: int) -> str:
    """A ``datetime-local`` value ``minutes`` before now, in the browser's time zone."""
    return str(
        page.evaluate(
            """(minutes) => {
              const at = new Date(Date.now() - minutes * 60000);
              const pad = (n) => String(n).padStart(2, "0");
              const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
              return `${day}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
            }""",
            minutes,
        )
    )


def test_replay_counts_asks_then_republishes_and_follows_progress(platform, page: Page) -> None:
    """Count is a dry run (a bad filter marked at its field); Replay asks first, then follows progress to the end."""
    offers = [publish(platform, dict(OFFER), event_type=OFFER_TYPE) for _ in range(3)]
    for event_id in offers:
        wait_stored(platform, event_id)
    page.goto(f"{platform.candybar_url}/replay")
    expect(page).to_have_title("Replay · Candybar")
    page.get_by_role("button", name="Count").click()
    expect(page.locator("#replay-since-problem")).to_have_text("Give the start of the time range.")

    page.locator('input[name="since"]').fill(local_minutes_ago(page, 60))
    page.locator('input[name="eventType"]').fill("retail..x")
    page.get_by_role("button", name="Count").click()
    expect(page.locator("#replay-eventType-problem")).to_contain_text("not a valid event-type pattern", timeout=WAIT_MS)
    page.locator('input[name="eventType"]').fill("retail.#")
    page.get_by_role("button", name="Count").click()
    expect(page.locator(".replay-count")).to_have_text("3 events match", timeout=WAIT_MS)
    shoot_widths_and_themes(page, "replay-form")

    page.get_by_role("button", name="Replay…").click()
    dialog = page.get_by_role("alertdialog", name="Confirm replay")
    expect(dialog).to_contain_text("Republish 3 stored events")
    assert_accessible(page, "the replay page asking for confirmation")
    dialog.get_by_role("button", name="Replay 3").click()
    progress = page.locator(".replay-progress")
    expect(progress).to_have_attribute("data-replay-state", "done", timeout=WAIT_MS)
    expect(progress).to_contain_text("Done: 3 of 3 republished.")
    expect(progress.locator('[data-figure="published"]')).to_have_text("3")
    assert re.search(r"/replay\?id=[0-9a-f-]{36}$", page.url), page.url
    shoot_widths_and_themes(page, "replay-done")
    assert_accessible(page, "the replay page with a finished replay")

    page.reload()
    expect(page.locator(".replay-progress")).to_contain_text("Done: 3 of 3 republished.", timeout=WAIT_MS)
