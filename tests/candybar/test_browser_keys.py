"""Candybar in real headless Chromium against a platform that requires API keys.

Every API, Candybar's ``/config.json`` included, answers only callers with a key: the
``ui-test`` client's (``BLOODBANK_API_KEYS``, every scope), a read-only ``viewer`` and a
``slow`` reader with a one-token bucket (a keys file). The UI asks for a key, keeps it
in the tab's sessionStorage, sends it with every call and on the live stream, and lets
the platform record its client as who acts.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, Response, expect

from gumdrop.principals import hash_key
from tests.candybar.browsing import WAIT_MS, publish, shoot, wait_stored
from tests.candybar.harness import POISON_CONSUMER, POISON_MARK, ApiKey, RunningPlatform, running_platform

pytestmark = pytest.mark.browser

CLIENT = "ui-test"
VIEWER_KEY = secrets.token_urlsafe(32)
SLOW_KEY = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    data_dir = tmp_path_factory.mktemp("platform")
    keys_file = data_dir / "keys.yaml"
    clients = {
        "viewer": {"scopes": ["read"], "keys": [hash_key(VIEWER_KEY)]},
        "slow": {"scopes": ["read"], "keys": [hash_key(SLOW_KEY)], "rate": {"per_second": 0.001, "burst": 1}},
    }
    keys_file.write_text(yaml.safe_dump({"clients": clients}), encoding="utf-8")
    api_key = ApiKey(CLIENT, secrets.token_urlsafe(32))
    with running_platform(data_dir, visibility=True, api_key=api_key, keys_file=keys_file) as running:
        yield running


def key_of(platform: RunningPlatform) -> str:
    assert platform.api_key is not None
    return platform.api_key.key


def workflow(name: str) -> dict[str, Any]:
    return {
        "workflow_id": "Rk3zR5ZlU6cXbd7q",
        "workflow_name": name,
        "execution_id": uuid.uuid4().hex[:12],
        "mode": "webhook",
        "started_at": "2026-11-02T14:03:28.104Z",
        "input": {},
    }


def enter_key(page: Page, key: str) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This platform requires an API key", timeout=WAIT_MS)
    field = dialog.locator('input[name="api-key"]')
    expect(field).to_have_attribute("type", "password")
    field.fill(key)
    dialog.get_by_role("button", name="Use this key").click()


def sign_in(page: Page, platform: RunningPlatform, key: str, path: str = "/live") -> None:
    """Open ``path``, give ``key`` when asked, and wait for the page to load again with it."""
    page.goto(f"{platform.candybar_url}{path}")
    enter_key(page, key)
    expect(page.locator(".key-control")).to_contain_text("API key in use", timeout=WAIT_MS)


def refusals(page: Page, platform: RunningPlatform) -> list[str]:
    """Every 401, 403 and 429 the platform's APIs answer the page from now on."""
    bases = (platform.gateway_url, platform.candystore_url, platform.visibility_url, platform.candybar_url)
    seen: list[str] = []

    def check(response: Response) -> None:
        if response.status in {401, 403, 429} and response.url.startswith(bases):
            seen.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", check)
    return seen


def wait_dead_letter(platform: RunningPlatform, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        params = {"consumer": POISON_CONSUMER, "state": "open"}
        answer = httpx.get(f"{platform.candystore_url}/dlq", params=params, headers=platform.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        for item in answer.json()["items"]:
            if item["event_id"] == event_id:
                return dict(item)
        time.sleep(0.1)
    pytest.fail(f"event {event_id} did not reach the dead letters")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def contradiction(platform: RunningPlatform) -> dict[str, Any]:
    """An inventory with none on hand, then an offer of the product in stock in the same store: one conflict."""
    store, now = f"store-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    snapshot = {
        "store_id": store,
        "as_of": _iso(now),
        "currency": "USD",
        "items": [{"product_id": "1004417382", "on_hand": 0, "price": 39.98}],
    }
    offer = {
        "team": "magic-apron",
        "product_id": "1004417382",
        "store_id": store,
        "price": 39.98,
        "currency": "USD",
        "availability": "in_stock",
        "quantity": 12,
        "channel": "app",
        "customer_facing": True,
        "surfaced_at": _iso(now + timedelta(seconds=1)),
    }
    publish(platform, snapshot, event_type="retail.inventory.snapshot.v1")
    publish(platform, offer, event_type="retail.offer.surfaced.v1")
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{platform.visibility_url}/conflicts",
            params={"status": "unresolved"},
            headers=platform.headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        found = [item for item in answer.json()["items"] if item["store_id"] == store]
        if found:
            return dict(found[0])
        time.sleep(0.1)
    pytest.fail(f"no conflict was detected in {store}")


def test_the_apis_refuse_a_caller_without_a_key(platform):
    """The platform of this module requires keys: without one, the APIs and /config.json answer 401."""
    for url in (f"{platform.candybar_url}/config.json", f"{platform.candystore_url}/stats"):
        answer = httpx.get(url, timeout=10)
        assert answer.status_code == 401, answer.text
    assert httpx.get(f"{platform.candybar_url}/config.json", headers=platform.headers, timeout=10).status_code == 200


def test_the_ui_asks_for_a_key_refuses_a_wrong_one_and_keeps_the_right_one_in_the_tab(platform, page):
    """The UI asks for a key, shows the server's refusal of a wrong one, and keeps the right one in sessionStorage."""
    page.goto(f"{platform.candybar_url}/live")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This platform requires an API key", timeout=WAIT_MS)
    shoot(page, "key-prompt")
    enter_key(page, "not-the-key")
    expect(dialog.locator(".outcome.error")).to_contain_text(
        "That key was refused: the API key is not valid", timeout=WAIT_MS
    )
    shoot(page, "key-refused")
    enter_key(page, key_of(platform))
    expect(page.locator(".pill.green", has_text="Live")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".key-control")).to_contain_text("API key in use")
    key = key_of(platform)
    assert page.evaluate("() => Object.values(sessionStorage)") == [key]
    assert key not in page.evaluate("() => document.cookie")
    assert key not in page.evaluate("() => JSON.stringify(Object.entries(localStorage))")
    assert all(key not in cookie["value"] for cookie in page.context.cookies())
    assert key not in page.url


def test_with_the_key_every_page_loads_and_the_stream_connects(platform, page):
    """With the key given, the live stream connects and no page meets a 401, 403 or 429."""
    parent = publish(platform, workflow("parent"))
    event_id = publish(platform, workflow("child"), correlation_ids=[parent])
    wait_stored(platform, event_id)
    letter = wait_dead_letter(platform, publish(platform, workflow(f"{POISON_MARK} for the pages")))
    conflict = contradiction(platform)
    sign_in(page, platform, key_of(platform))
    seen = refusals(page, platform)

    expect(page.locator(".pill.green", has_text="Live")).to_be_visible(timeout=WAIT_MS)
    live = publish(platform, workflow("while watching"))
    expect(page.locator(f'.event-row[data-event-id="{live}"]')).to_be_visible(timeout=WAIT_MS)
    shoot(page, "keys-live")

    checks = {
        f"/events/{event_id}": page.locator(".envelope"),
        f"/trace/{event_id}": page.locator(f'svg.trace-graph g.node[data-event-id="{parent}"]'),
        f"/dead-letters?state=open&consumer={POISON_CONSUMER}": page.locator(
            f'tr[data-dead-letter-id="{letter["id"]}"]'
        ),
        f"/dead-letters/{letter['id']}": page.locator(".reason-text"),
        "/conflicts": page.locator(f'tr[data-conflict-id="{conflict["conflict_id"]}"]'),
        f"/conflicts/{conflict['conflict_id']}": page.locator('.pill[data-status="open"]'),
        "/schemas/retail.offer.surfaced.v1": page.locator(".schema-detail"),
        "/health": page.locator('tr[data-component="Candystore"][data-grade="green"]'),
    }
    for path, shown in checks.items():
        page.goto(f"{platform.candybar_url}{path}")
        expect(shown.first).to_be_visible(timeout=WAIT_MS)
        expect(page.locator(".state.failure")).to_have_count(0)
        expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator(".indicator")).to_have_count(8)
    expect(page.locator(".issues")).to_have_count(0)  # every /metrics answered
    expect(page.locator('tr[data-component="Visibility"]')).to_have_attribute("data-grade", "green")
    shoot(page, "keys-health")
    assert seen == []


def test_actions_are_recorded_as_the_key_client(platform, page):
    """With a key, no actor is asked for: replays, discards and conflict actions are recorded as its client."""
    replayed = wait_dead_letter(platform, publish(platform, workflow(f"{POISON_MARK} to replay")))
    discarded = wait_dead_letter(platform, publish(platform, workflow(f"{POISON_MARK} to discard")))
    conflict = contradiction(platform)
    sign_in(page, platform, key_of(platform), f"/dead-letters?state=open&consumer={POISON_CONSUMER}")
    seen = refusals(page, platform)

    expect(page.locator(".actor-from-key")).to_have_text("Acting as the key's client", timeout=WAIT_MS)
    expect(page.locator('input[name="actor"]')).to_have_count(0)
    platform.poison.failing = False
    try:
        row = page.locator(f'tr[data-dead-letter-id="{replayed["id"]}"]')
        row.locator('input[type="checkbox"]').check()
        page.get_by_role("button", name="Replay selected (1)").click()
        expect(page.locator(".outcome")).to_contain_text("Replayed 1 of 1", timeout=WAIT_MS)
    finally:
        platform.poison.failing = True
    shoot(page, "keys-dead-letters")

    page.goto(f"{platform.candybar_url}/dead-letters/{discarded['id']}")
    page.get_by_label("Discard because").fill("a duplicate")
    page.get_by_role("button", name="Discard").click()
    expect(page.locator(".outcome.ok")).to_contain_text("Discarded", timeout=WAIT_MS)

    page.goto(f"{platform.candybar_url}/conflicts/{conflict['conflict_id']}")
    expect(page.locator(".conflict-actions .actor-from-key")).to_be_visible(timeout=WAIT_MS)
    page.locator('button[data-action="acknowledge"]').click()
    expect(page.locator('.history tr[data-action="acknowledge"]')).to_contain_text(CLIENT, timeout=WAIT_MS)
    shoot(page, "keys-conflict")
    assert seen == []

    for letter, state in ((replayed, "resolved"), (discarded, "discarded")):
        stored = httpx.get(f"{platform.candystore_url}/dlq/{letter['id']}", headers=platform.headers, timeout=10)
        assert stored.json()["state"] == state
        assert stored.json()["resolved_by"] == CLIENT
    acted = httpx.get(
        f"{platform.visibility_url}/conflicts/{conflict['conflict_id']}", headers=platform.headers, timeout=10
    ).json()
    assert [(action["action"], action["actor"]) for action in acted["actions"]] == [("acknowledge", CLIENT)]


def test_a_key_without_the_scope_is_told_so(platform, page):
    """A read-only key reads every page, and an action it may not take says the scope its key lacks."""
    conflict = contradiction(platform)
    sign_in(page, platform, VIEWER_KEY, f"/conflicts/{conflict['conflict_id']}")
    page.locator('button[data-action="acknowledge"]').click()
    outcome = page.locator(".conflict-actions .outcome.error")
    expect(outcome).to_contain_text("Your key lacks the scope for this", timeout=WAIT_MS)
    expect(outcome).to_contain_text("its key lacks the scope 'operate'")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator('.pill[data-status="open"]')).to_be_visible()
    shoot(page, "keys-forbidden")


def test_a_client_over_its_rate_is_told_when_to_retry(platform, page):
    """A client whose bucket is spent sees how long to wait, not the key prompt."""
    page.goto(f"{platform.candybar_url}/live")
    enter_key(page, SLOW_KEY)  # its one token: the key is tried; the page loading again is over the rate
    limited = page.locator('[data-access="limited"]')
    expect(limited).to_contain_text("Rate limited: retry in", timeout=WAIT_MS)
    expect(limited).to_contain_text("is over its rate for 'read'")
    expect(page.get_by_role("dialog")).to_have_count(0)
    shoot(page, "keys-limited")


def test_forgetting_the_key_asks_for_one_again(platform, page):
    """ "Forget key" removes the key from the tab, and the UI asks for one again."""
    sign_in(page, platform, key_of(platform))
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_role("dialog")).to_contain_text("This platform requires an API key", timeout=WAIT_MS)
    assert page.evaluate("() => sessionStorage.length") == 0
    expect(page.locator(".key-control")).to_have_count(0)


def test_a_platform_without_keys_asks_for_none(tmp_path: Path, browser: Browser):
    """Without keys configured nothing asks for one and the actor is typed, as before."""
    with running_platform(tmp_path) as open_platform:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        try:
            page.goto(f"{open_platform.candybar_url}/dead-letters")
            expect(page.locator('input[name="actor"]')).to_be_visible(timeout=WAIT_MS)
            expect(page.get_by_role("dialog")).to_have_count(0)
            expect(page.locator(".key-control")).to_have_count(0)
        finally:
            context.close()
