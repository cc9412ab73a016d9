"""Candybar in real headless Chromium against the running platform: live stream, event, trace, dead letters, safety.

Events go in through the gateway over HTTP, as a producer sends them; the pages are read
the way a person reads them. Screenshots of every page are saved in ``.33god/screenshots/``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from candybar import CandybarSettings
from tests.candybar.browsing import WAIT_MS, publish, shoot, wait_stored
from tests.candybar.harness import POISON_CONSUMER, POISON_MARK, POISON_TYPE, RunningPlatform, running_platform

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        yield running


def workflow(name: str, **input_fields: Any) -> dict[str, Any]:
    return {
        "workflow_id": "Rk3zR5ZlU6cXbd7q",
        "workflow_name": name,
        "execution_id": uuid.uuid4().hex[:12],
        "mode": "webhook",
        "started_at": "2026-11-02T14:03:28.104Z",
        "input": input_fields,
    }


def open_live(page: Page, platform: RunningPlatform, query: str = "") -> None:
    page.goto(f"{platform.candybar_url}/events{query}")
    expect(page.locator(".pill", has_text="Live")).to_be_visible(timeout=WAIT_MS)


def test_events_published_through_the_gateway_appear_live(platform, page):
    """Events published while the live page is open appear in it, newest first, with their type and source."""
    open_live(page, platform)
    expect(page.get_by_text("Waiting for events")).to_be_visible()
    shoot(page, "live-empty")
    ids = [publish(platform, workflow(f"live {n}")) for n in range(3)]
    for event_id in ids:
        expect(page.locator(f'.event-row[data-event-id="{event_id}"]')).to_be_visible(timeout=WAIT_MS)
    rows = page.locator(".event-row")
    assert rows.first.get_attribute("data-event-id") == ids[-1]
    expect(rows.first).to_contain_text(POISON_TYPE)
    expect(rows.first).to_contain_text("bloodbank")
    rows.first.click()
    expect(page.locator(".detail")).to_contain_text("live 2")
    shoot(page, "live")


def test_pause_holds_events_back_and_resume_shows_them(platform, page):
    """While paused, new events are counted but not shown; resuming shows them."""
    open_live(page, platform)
    page.get_by_role("button", name="Pause").click()
    event_id = publish(platform, workflow("while paused"))
    expect(page.get_by_role("button", name="Resume (1 new)")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(f'.event-row[data-event-id="{event_id}"]')).to_have_count(0)
    page.get_by_role("button", name="Resume (1 new)").click()
    expect(page.locator(f'.event-row[data-event-id="{event_id}"]')).to_be_visible()


def test_the_live_page_opens_with_the_most_recent_stored_events(platform, page):
    """Events stored before the page opened are shown at once, newer ones above them, and none of them twice."""
    marker = f"preload-{uuid.uuid4().hex[:8]}"
    before = [publish(platform, workflow(f"{marker} before {n}")) for n in range(2)]
    for event_id in before:
        wait_stored(platform, event_id)
    open_live(page, platform, f"?q={marker}")
    for event_id in before:
        expect(page.locator(f'.event-row[data-event-id="{event_id}"]')).to_be_visible(timeout=WAIT_MS)
    after = publish(platform, workflow(f"{marker} after"))
    expect(page.locator(f'.event-row[data-event-id="{after}"]')).to_be_visible(timeout=WAIT_MS)
    rows = page.locator(".event-row")
    expect(rows).to_have_count(3)
    assert [rows.nth(n).get_attribute("data-event-id") for n in range(3)] == [after, before[1], before[0]]


def test_the_live_list_renders_only_the_rows_in_view(platform, page):
    """A burst of events is all kept and counted, but only the rows in view are in the page."""
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    open_live(page, platform, f"?q={marker}")  # the events stored before the page opened do not match
    batch = [{"event_type": POISON_TYPE, "payload": workflow(f"{marker} {n}")} for n in range(400)]
    answer = httpx.post(f"{platform.gateway_url}/events/batch", json=batch, timeout=60)
    assert answer.status_code in {200, 202, 207}, answer.text
    expect(page.locator(".counts")).to_contain_text("400 shown", timeout=WAIT_MS)
    assert page.locator(".event-row").count() < 60
    page.locator(".virtual-list").evaluate("(list) => { list.scrollTop = list.scrollHeight; }")
    expect(page.locator(".event-row", has_text=POISON_TYPE).last).to_be_visible()
    assert page.locator(".event-row").count() < 60


def test_live_filters_are_deep_links(platform, page):
    """Filters live in the address: opening it filters the stream, and typing a filter changes it."""
    open_live(page, platform, "?event_type=retail.%23")
    expect(page.locator('input[name="event_type"]')).to_have_value("retail.#")
    event_id = publish(platform, workflow("filtered out"))
    wait_stored(platform, event_id)
    page.locator('input[name="event_type"]').fill("n8n.#")
    expect(page.locator(f'.event-row[data-event-id="{event_id}"]')).to_be_visible(timeout=WAIT_MS)
    assert "event_type=n8n.%23" in page.url
    page.locator('input[name="q"]').fill("no payload says this")
    expect(page.get_by_text("No event matches the filters")).to_be_visible()


def test_the_event_page_shows_every_envelope_field(platform, page):
    """Source, agent context, trace context and the parents (as links) are all shown, and the JSON tree too."""
    parent = publish(platform, workflow("parent"))
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    event_id = publish(
        platform,
        workflow("child", ticket="OPS-1"),
        correlation_ids=[parent],
        agent_context={
            "type": "claude",
            "name": "triage-agent",
            "system_prompt": "Be brief.",
            "mcp_servers": ["github"],
        },
        trace_context={"trace_id": trace_id, "span_id": span_id, "trace_flags": "01"},
    )
    stored = wait_stored(platform, event_id)
    page.goto(f"{platform.candybar_url}/events/{event_id}")
    envelope = page.locator(".envelope")
    expect(envelope).to_contain_text(event_id, timeout=WAIT_MS)
    for text in (POISON_TYPE, stored["version"], stored["source"]["host"], stored["source"]["type"], "bloodbank"):
        expect(envelope).to_contain_text(text)
    for text in ("triage-agent", "claude", "Be brief.", "github", trace_id, span_id):
        expect(envelope).to_contain_text(text)
    expect(envelope.locator(f'a[href="/events/{parent}"]')).to_be_visible()
    tree = page.locator(".json-tree").last
    expect(tree).to_contain_text('"OPS-1"')
    expect(tree.locator(f'a[href="/events/{parent}"]')).to_be_visible()
    shoot(page, "event")
    envelope.locator(f'a[href="/events/{parent}"]').click()
    expect(page).to_have_url(f"{platform.candybar_url}/events/{parent}")
    expect(page.locator(".envelope")).to_contain_text("None: a root event.")


def test_the_trace_of_a_three_level_chain_with_a_two_parent_event(platform, page):
    """Every node and edge of root → (a, b) → merge → leaf is drawn, the opened event highlighted; click opens one."""
    root = publish(platform, workflow("root"))
    left = publish(platform, workflow("left"), correlation_ids=[root])
    right = publish(platform, workflow("right"), correlation_ids=[root])
    merge = publish(platform, workflow("merge"), correlation_ids=[left, right])
    leaf = publish(platform, workflow("leaf"), correlation_ids=[merge])
    wait_stored(platform, leaf)
    page.goto(f"{platform.candybar_url}/trace/{merge}")
    nodes = page.locator("svg.trace-graph g.node")
    expect(nodes).to_have_count(5, timeout=WAIT_MS)
    assert {nodes.nth(n).get_attribute("data-event-id") for n in range(5)} == {root, left, right, merge, leaf}
    edges = page.locator("svg.trace-graph g.edge")
    expect(edges).to_have_count(5)
    pairs = {(edges.nth(n).get_attribute("data-parent"), edges.nth(n).get_attribute("data-child")) for n in range(5)}
    assert pairs == {(root, left), (root, right), (left, merge), (right, merge), (merge, leaf)}
    selected = page.locator("svg.trace-graph g.node.selected")
    expect(selected).to_have_count(1)
    assert selected.get_attribute("data-event-id") == merge

    def top(event_id: str) -> float:
        box = page.locator(f'g.node[data-event-id="{event_id}"]').bounding_box()
        assert box is not None
        return float(box["y"])

    assert top(root) < top(left) == top(right) < top(merge) < top(leaf)
    expect(edges.locator("text.edge-label").first).to_contain_text("ms")
    shoot(page, "trace")
    page.locator(f'g.node[data-event-id="{root}"]').click()
    expect(page).to_have_url(f"{platform.candybar_url}/events/{root}")


def wait_dead_letter(platform: RunningPlatform, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(f"{platform.candystore_url}/dlq", params={"consumer": POISON_CONSUMER}, timeout=10)
        assert answer.status_code == 200, answer.text
        for item in answer.json()["items"]:
            if item["event_id"] == event_id:
                return dict(item)
        time.sleep(0.1)
    pytest.fail(f"event {event_id} did not reach the dead letters")


def test_a_poison_event_is_among_the_dead_letters_and_replay_moves_it_back(platform, page):
    """A rejected event is listed with reason, consumer and attempts; replaying it resolves it and it is handled."""
    event_id = publish(platform, workflow(f"{POISON_MARK} pill"))
    letter = wait_dead_letter(platform, event_id)
    page.goto(f"{platform.candybar_url}/dead-letters?state=open&consumer={POISON_CONSUMER}")
    row = page.locator(f'tr[data-dead-letter-id="{letter["id"]}"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text("refusing it on purpose")
    expect(row).to_contain_text(POISON_CONSUMER)
    expect(page.locator(".tab.active")).to_contain_text("Open")
    shoot(page, "dead-letters")
    row.locator("a").click()
    expect(page.locator(".reason-text")).to_contain_text("refusing it on purpose", timeout=WAIT_MS)
    expect(page.locator(".json-tree").first).to_contain_text(f"{POISON_MARK} pill")
    shoot(page, "dead-letter")
    page.go_back()

    platform.poison.failing = False
    row = page.locator(f'tr[data-dead-letter-id="{letter["id"]}"]')
    row.locator('input[type="checkbox"]').check()
    page.get_by_role("button", name="Replay selected (1)").click()
    expect(page.locator(".outcome")).to_contain_text("Replayed 1 of 1", timeout=WAIT_MS)
    expect(row).to_have_count(0)
    replayed = httpx.get(f"{platform.candystore_url}/dlq/{letter['id']}", timeout=10).json()
    assert replayed["state"] == "resolved"
    page.goto(f"{platform.candybar_url}/dead-letters?state=resolved&consumer={POISON_CONSUMER}")
    expect(page.locator(f'tr[data-dead-letter-id="{letter["id"]}"]')).to_contain_text("resolved", timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while event_id not in platform.poison.handled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert event_id in platform.poison.handled


def test_a_payload_crafted_to_inject_script_does_not_run(platform, page):
    """Markup and javascript: URLs in a payload are shown as text on the live and event pages; nothing runs."""
    attack = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    event_id = publish(
        platform,
        workflow(attack[:120], link="javascript:window.__pwned=3", html='<a href="javascript:window.__pwned=4">x</a>'),
    )
    open_live(page, platform)
    publish(platform, workflow("after the attack"))
    wait_stored(platform, event_id)
    page.goto(f"{platform.candybar_url}/events/{event_id}")
    tree = page.locator(".json-tree").last
    expect(tree).to_contain_text("<img src=x onerror=", timeout=WAIT_MS)
    expect(tree).to_contain_text("javascript:window.__pwned=3")
    for link in page.locator("a").all():
        assert not (link.get_attribute("href") or "").startswith("javascript:")
    assert page.locator("img").count() == 0
    page.locator(".json-leaf").first.hover()
    shoot(page, "injection")
    assert page.evaluate("window.__pwned") is None


def test_the_schema_catalog(platform, page):
    """The catalog lists every event type with version, owner and status, and shows one's schema and examples."""
    page.goto(f"{platform.candybar_url}/schemas/retail.offer.surfaced.v1")
    expect(page.locator(".schema-list tbody tr")).not_to_have_count(0, timeout=WAIT_MS)
    detail = page.locator(".schema-detail")
    expect(detail).to_contain_text("retail.offer.surfaced.v1", timeout=WAIT_MS)
    expect(detail).to_contain_text("owner")
    expect(detail).to_contain_text("Examples")
    expect(detail).to_contain_text('"in_stock"')
    shoot(page, "schemas")


def test_the_health_page_grades_each_indicator(platform, page):
    """Every indicator is shown with a grade, and each component's status; the missing visibility layer is not red."""
    publish(platform, workflow("health"))
    page.goto(f"{platform.candybar_url}/health")
    indicators = page.locator(".indicator")
    expect(indicators).to_have_count(8, timeout=WAIT_MS)
    grades = {
        indicators.nth(n).get_attribute("data-indicator"): indicators.nth(n).get_attribute("data-grade")
        for n in range(8)
    }
    assert grades["publish-success"] == "green"
    assert grades["validation-success"] in {"green", "amber", "red"}
    assert grades["dead-letters"] == "green"
    expect(page.locator('tr[data-component="Candystore"]')).to_have_attribute("data-grade", "green")
    expect(page.locator('tr[data-component="Visibility"]')).to_contain_text("not running")
    shoot(page, "health")
    page.get_by_role("button", name="Theme: system").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    shoot(page, "health-dark")


def test_unknown_and_missing_things_say_what_to_do(platform, page):
    """An unknown event, trace or page answers with a clear empty state, never a blank page."""
    missing = str(uuid.uuid4())
    page.goto(f"{platform.candybar_url}/events/{missing}")
    expect(page.get_by_text("No such event")).to_be_visible(timeout=WAIT_MS)
    page.goto(f"{platform.candybar_url}/trace/{missing}")
    expect(page.get_by_text("No trace for this event")).to_be_visible(timeout=WAIT_MS)
    page.goto(f"{platform.candybar_url}/nowhere")
    expect(page.get_by_text("No such page")).to_be_visible()


def test_the_conflicts_page_says_when_the_visibility_layer_does_not_answer(platform, page):
    """Without the visibility layer, the conflicts page names it as not answering and offers to retry."""
    page.goto(f"{platform.candybar_url}/conflicts")
    failure = page.locator(".state.failure")
    expect(failure).to_contain_text("Visibility did not answer", timeout=WAIT_MS)
    expect(failure.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.locator(".unavailable").first).to_contain_text("No OKR figures")
    expect(page.locator(".top nav a.active")).to_have_text("Conflicts")


def test_a_component_that_does_not_answer_is_said_so(platform, page):
    """With Candystore down, pages say which service did not answer and offer to retry; the stream keeps trying."""
    nowhere = "http://127.0.0.1:9"  # the discard port: nothing listens there
    url = platform.serve_ui(CandybarSettings(gateway_url=nowhere, candystore_url=nowhere, visibility_url=nowhere))
    page.goto(f"{url}/events/{uuid.uuid4()}")
    failure = page.locator(".state.failure")
    expect(failure).to_contain_text("Candystore did not answer", timeout=WAIT_MS)
    expect(failure.get_by_role("button", name="Try again")).to_be_visible()
    shoot(page, "error-state")
    page.goto(f"{url}/live")
    expect(page.locator(".pill.red")).to_contain_text("Disconnected", timeout=WAIT_MS)
    page.goto(f"{url}/health")
    expect(page.locator('tr[data-component="Candystore"]')).to_have_attribute("data-grade", "red", timeout=WAIT_MS)
