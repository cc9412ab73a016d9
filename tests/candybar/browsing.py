"""What the browser tests share: publishing through the gateway, waiting for Candystore, screenshots.

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

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".33god" / "screenshots"
WAIT_MS = 15_000
"""How long a page may take to show what it should: generous, so a busy machine does not fail a test."""


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


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
