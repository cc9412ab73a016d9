"""What the browser tests share: publishing through the gateway, waiting for Candystore, screenshots, axe.

The ``browser`` and ``page`` fixtures are in this package's ``conftest.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page

from tests.candybar.harness import POISON_TYPE, RunningPlatform

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".33god" / "screenshots"
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core, pinned in package.json: the accessibility rules the pages are checked against."""
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
WIDTHS = {"wide": 1366, "narrow": 390}
"""A laptop and a phone."""
WAIT_MS = 15_000
"""How long a page may take to show what it should: generous, so a busy machine does not fail a test."""


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def shoot_widths_and_themes(page: Page, name: str) -> None:
    """Screenshots of the page as it is, at each width in light and in dark; the page is left wide and light."""
    height = page.viewport_size["height"] if page.viewport_size else 768
    for theme in ("light", "dark"):
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        for label, width in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            shoot(page, f"{name}-{label}-{theme}")
    page.set_viewport_size({"width": WIDTHS["wide"], "height": height})
    page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")


def assert_accessible(page: Page, what: str) -> None:
    """Run axe-core on the page, in light and in dark; fail naming every serious or critical violation.

    The script is evaluated through the DevTools protocol, which the page's Content-Security-Policy
    (no inline script) does not govern, so the page is checked exactly as it is served.
    """
    if not AXE_SCRIPT.exists():
        pytest.fail(f"axe-core is not installed at {AXE_SCRIPT}: run npm ci")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT.read_text())
    problems: list[str] = []
    for theme in ("light", "dark"):
        page.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        violations = page.evaluate(
            "async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations"
            ".map((v) => ({ id: v.id, impact: v.impact, help: v.help,"
            " targets: v.nodes.slice(0, 5).map((node) => node.target.join(' ')) }))"
        )
        problems += [
            f"{theme}: {violation['id']} ({violation['impact']}): {violation['help']} at {violation['targets']}"
            for violation in violations
            if violation["impact"] in BLOCKING_IMPACTS
        ]
    page.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
    assert problems == [], f"{what} has accessibility violations:\n" + "\n".join(problems)


def publish(platform: RunningPlatform, payload: dict[str, Any], **fields: Any) -> str:
    """Publish one event through the gateway, as a producer does; its id."""
    body = {"event_type": fields.pop("event_type", POISON_TYPE), "payload": payload, **fields}
    answer = httpx.post(f"{platform.gateway_url}/events", json=body, headers=platform.headers, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_id"])


def wait_stored(platform: RunningPlatform, event_id: str) -> dict[str, Any]:
    """The event as Candystore stored it, once it has."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        answer = httpx.get(f"{platform.candystore_url}/events/{event_id}", headers=platform.headers, timeout=10)
        if answer.status_code == 200:
            return dict(answer.json())
        time.sleep(0.1)
    pytest.fail(f"event {event_id} was not stored")
