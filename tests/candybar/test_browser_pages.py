"""Candybar's events, trace, schemas, event and health pages in headless Chromium, checked by axe-core.

Each page is read the way a person reads it, used by keyboard where it has rows, screenshotted
at a laptop's and a phone's width in light and dark (``.33god/screenshots/``), and checked
for serious and critical accessibility violations.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.candybar.browsing import WAIT_MS, assert_accessible, publish, shoot_widths_and_themes, wait_stored
from tests.candybar.harness import POISON_TYPE, RunningPlatform, running_platform

pytestmark = pytest.mark.browser

HISTORY_PAGE = 50
"""Stored events one history page of the events page shows."""


@pytest.fixture(scope="module")
def platform(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    del browser  # only its order: without Chromium, nothing is started
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
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


def publish_children(platform: RunningPlatform, parent: str, count: int) -> None:
    """``count`` events naming ``parent``, in one batch, all stored before this returns."""
    batch = [
        {"event_type": POISON_TYPE, "payload": workflow(f"child {n}"), "correlation_ids": [parent]}
        for n in range(count)
    ]
    answer = httpx.post(f"{platform.gateway_url}/events/batch", json=batch, headers=platform.headers, timeout=60)
    assert answer.status_code in {200, 202, 207}, answer.text
    results = answer.json()["results"]
    assert all(result["status"] == "accepted" for result in results), results
    ids = [result["event_id"] for result in results]
    for event_id in ids:
        wait_stored(platform, event_id)


def row_ids(page: Page, selector: str) -> list[str]:
    rows = page.locator(selector)
    return [rows.nth(n).get_attribute("data-event-id") or "" for n in range(rows.count())]


def test_the_app_replaces_the_loading_line_and_names_each_page(platform, page):
    """Once the app has mounted no loading line is left, and the tab's title names the page."""
    for path, title in [
        ("/events", "Events"),
        ("/schemas", "Schemas"),
        ("/health", "Health"),
        ("/nowhere", "Not found"),
    ]:
        page.goto(f"{platform.candybar_url}{path}")
        expect(page.locator("header.top")).to_be_visible(timeout=WAIT_MS)
        expect(page).to_have_title(f"{title} · Candybar")
        expect(page.get_by_text("Loading Candybar")).to_have_count(0)


def test_old_live_links_open_the_events_page_with_the_api_parameter_names(platform, page):
    """/live?type= is replaced by /events?event_type=, and the type field shows the pattern."""
    page.goto(f"{platform.candybar_url}/live?type=retail.%23&q=apron")
    expect(page.locator('input[name="event_type"]')).to_have_value("retail.#", timeout=WAIT_MS)
    assert page.url == f"{platform.candybar_url}/events?event_type=retail.%23&q=apron"
    expect(page.get_by_role("link", name="Events")).to_have_class(re.compile("active"))


def test_live_events_show_the_chosen_columns_and_answer_the_keyboard(platform, page):
    """Columns picked are shown as headers and kept across visits; ↓ moves between rows and Enter opens one."""
    marker = f"columns-{uuid.uuid4().hex[:8]}"
    ids = [publish(platform, workflow(f"{marker} {n}")) for n in range(3)]
    for event_id in ids:
        wait_stored(platform, event_id)
    page.goto(f"{platform.candybar_url}/events?q={marker}")
    expect(page.locator(".event-row")).to_have_count(3, timeout=WAIT_MS)
    head = page.locator(".event-head")
    expect(head).to_contain_text("Agent")
    page.get_by_text("Columns", exact=True).click()
    page.locator('input[name="column-payload"]').check()
    page.locator('input[name="column-agent"]').uncheck()
    expect(head).to_contain_text("Payload")
    expect(head).not_to_contain_text("Agent")
    expect(page.locator(".event-row").first.locator(".payload")).to_contain_text(marker)
    page.reload()
    expect(page.locator(".event-head")).to_contain_text("Payload", timeout=WAIT_MS)
    expect(page.locator(".event-head")).not_to_contain_text("Agent")

    page.locator(".event-row").first.focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("() => document.activeElement.dataset.eventId")
    assert focused == ids[1]
    page.keyboard.press("Enter")
    expect(page.locator(".detail")).to_contain_text(f"{marker} 1")
    shoot_widths_and_themes(page, "events-live")
    assert_accessible(page, "the live events")


def test_history_pages_by_keyset_in_both_directions_and_links_reproduce_the_view(platform, page):
    """A history of more than a page: older, then newer, brings the same rows back; the address reopens it."""
    root = publish(platform, workflow("history root"))
    publish_children(platform, root, HISTORY_PAGE + 5)
    page.goto(f"{platform.candybar_url}/events?mode=history&correlation_id={root}&range=24h")
    rows = "table.history tbody tr"
    expect(page.locator(rows)).to_have_count(HISTORY_PAGE, timeout=WAIT_MS)
    first_page = row_ids(page, rows)
    expect(page.get_by_role("button", name="← Newer")).to_be_disabled()

    page.get_by_role("button", name="Older →").click()
    expect(page.locator(rows)).to_have_count(5, timeout=WAIT_MS)
    older = row_ids(page, rows)
    assert not set(older) & set(first_page)
    assert "cursor=" in page.url
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    deep_link = page.url

    page.get_by_role("button", name="← Newer").click()
    expect(page.locator(rows)).to_have_count(HISTORY_PAGE, timeout=WAIT_MS)
    assert row_ids(page, rows) == first_page
    assert "dir=newer" in page.url

    page.goto(deep_link)
    expect(page.locator(rows)).to_have_count(5, timeout=WAIT_MS)
    assert row_ids(page, rows) == older
    expect(page.locator('input[name="correlation_id"]')).to_have_value(root)
    expect(page.locator('select[name="range"]')).to_have_value("24h")

    page.locator(rows).first.focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.eventId") == older[1]
    page.keyboard.press("Enter")
    expect(page.locator(".detail")).to_be_visible()
    shoot_widths_and_themes(page, "events-history")
    assert_accessible(page, "the stored events")


def test_history_passes_time_range_and_payload_conditions_to_candystore(platform, page):
    """The range picker and each payload condition row become GET /events parameters, and stay in the address."""
    page.goto(f"{platform.candybar_url}/events?mode=history&event_type=n8n.%23")
    expect(page.locator("table.history, .state.empty").first).to_be_visible(timeout=WAIT_MS)
    page.locator('select[name="range"]').select_option("custom")
    page.locator('input[name="since"]').fill("2026-01-02T03:04")
    expect(page).to_have_url(re.compile(r"since=2026-01-02T03%3A04%3A00Z"))
    page.get_by_role("button", name="Add payload condition").click()
    condition = page.locator(".condition").first
    condition.locator('select[name="payload-op"]').select_option("contains")
    condition.locator('input[name="payload-value"]').fill("root")
    with page.expect_request(lambda request: "payload.workflow_name%5Bcontains%5D=root" in request.url) as asked:
        condition.locator('input[name="payload-path"]').fill("workflow_name")
    url = asked.value.url
    assert "event_type=n8n.%23" in url
    assert "since=2026-01-02T03%3A04%3A00Z" in url
    assert re.search(r"payload\.workflow_name%5Bcontains%5D=root", page.url)
    page.reload()
    expect(page.locator('.condition input[name="payload-path"]')).to_have_value("workflow_name", timeout=WAIT_MS)
    expect(page.locator('.condition select[name="payload-op"]')).to_have_value("contains")
    shoot_widths_and_themes(page, "events-history-conditions")
    assert_accessible(page, "the events page with payload conditions")


def test_the_trace_has_a_timeline_a_compact_graph_and_a_search(platform, page):
    """The timeline lists events by time, indented by depth; the graph is compact; the search picks some out."""
    root = publish(platform, workflow("root"))
    left = publish(platform, workflow("left"), correlation_ids=[root])
    right = publish(platform, workflow("right"), correlation_ids=[root])
    merge = publish(platform, workflow("merge"), correlation_ids=[left, right])
    leaf = publish(platform, workflow("leaf"), correlation_ids=[merge])
    wait_stored(platform, leaf)
    page.goto(f"{platform.candybar_url}/trace/{merge}")
    rows = page.locator(".timeline-row")
    expect(rows).to_have_count(5, timeout=WAIT_MS)
    order = row_ids(page, ".timeline-row")
    assert order[0] == root
    assert order[-1] == leaf
    assert set(order[1:3]) == {left, right}
    indent = {
        event_id: float(rows.nth(n).locator(".timeline-label").evaluate("(el) => parseFloat(el.style.paddingLeft)"))
        for n, event_id in enumerate(order)
    }
    assert indent[root] < indent[left] == indent[right] < indent[merge] < indent[leaf]
    expect(page.locator(f'.timeline-row[data-event-id="{merge}"]')).to_have_class(re.compile("selected"))

    graph = page.locator("svg.trace-graph").bounding_box()
    assert graph is not None
    assert graph["height"] < 4 * 58 + 3 * 60  # four ranks of nodes, tight gaps between them

    page.locator('input[name="trace-search"]').fill(leaf[-8:])
    expect(rows).to_have_count(1)
    expect(page.locator("svg.trace-graph g.node.dim")).to_have_count(4)
    expect(page.locator(f'svg.trace-graph g.node.match[data-event-id="{leaf}"]')).to_have_count(1)
    page.locator('input[name="trace-search"]').fill("")
    expect(rows).to_have_count(5)

    rows.first.locator("a").focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.closest('.timeline-row').dataset.eventId") == order[1]
    shoot_widths_and_themes(page, "trace-timeline")
    assert_accessible(page, "the trace")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{platform.candybar_url}/events/{order[1]}")


def test_the_schema_catalogue_reads_as_a_field_table_with_checked_examples(platform, page):
    """A payload is a table of dotted fields with type, required and constraints; its examples are valid."""
    page.goto(f"{platform.candybar_url}/schemas/retail.offer.surfaced.v1")
    fields = page.locator("table.fields").first
    expect(fields).to_be_visible(timeout=WAIT_MS)
    price = fields.locator('tr[data-field="price"]')
    expect(price).to_contain_text("required")
    availability = fields.locator('tr[data-field="availability"]')
    expect(availability).to_contain_text('"in_stock"')
    examples = page.locator(".example")
    expect(examples.first).to_have_attribute("data-valid", "true")
    expect(examples.first).to_contain_text("valid")
    expect(page.locator('.example[data-valid="false"]')).to_have_count(0)

    page.locator(".schema-list tbody tr a").first.focus()
    page.keyboard.press("ArrowDown")
    second = page.locator(".schema-list tbody tr a").nth(1).text_content()
    assert page.evaluate("() => document.activeElement.textContent") == second
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{platform.candybar_url}/schemas/{second}")
    page.goto(f"{platform.candybar_url}/schemas/retail.offer.surfaced.v1")
    expect(page.locator("table.fields").first).to_be_visible(timeout=WAIT_MS)
    shoot_widths_and_themes(page, "schemas-fields")
    assert_accessible(page, "the schema catalogue")


def test_the_event_page_is_accessible(platform, page):
    """The event page passes axe at both widths and themes."""
    event_id = publish(platform, workflow("accessible"))
    wait_stored(platform, event_id)
    page.goto(f"{platform.candybar_url}/events/{event_id}")
    expect(page.locator(".envelope")).to_be_visible(timeout=WAIT_MS)
    expect(page).to_have_title("Event · Candybar")
    shoot_widths_and_themes(page, "event")
    assert_accessible(page, "the event page")


def test_the_health_page_charts_the_store_over_time_with_its_objectives(platform, page):
    """Rate, error ratio, latency and lag are charted per minute from GET /stats/series, with objective lines."""
    wait_stored(platform, publish(platform, workflow("health over time")))
    with page.expect_response(lambda response: "/stats/series?hours=6" in response.url) as answered:
        page.goto(f"{platform.candybar_url}/health")
    assert answered.value.status == 200
    charts = page.locator("figure.time-chart")
    expect(charts).to_have_count(4, timeout=WAIT_MS)
    assert [charts.nth(n).get_attribute("data-chart") for n in range(4)] == ["rate", "error-ratio", "latency", "lag"]
    expect(charts.locator("canvas")).to_have_count(4)
    latency = page.locator('figure[data-chart="latency"] [role="img"]')
    expect(latency).to_have_attribute(
        "aria-label", re.compile(r"p99 latest .*Lines at objective 500 ms, alert 1\.00 s")
    )
    expect(page.locator('figure[data-chart="rate"] .u-legend')).to_contain_text("stored/s")
    with page.expect_response(lambda response: "/stats/series?hours=24" in response.url):
        page.locator('select[name="series-hours"]').select_option("24")
    shoot_widths_and_themes(page, "health-over-time")
    assert_accessible(page, "the health page")
