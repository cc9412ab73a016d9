"""What the API tests share: an app over a store, an HTTP client in the test's loop, the error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2 as httpx
from prometheus_client import CollectorRegistry

from bloodbank import build_envelope
from candystore.api import create_api
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from gumdrop.access_control import Access
from holyfields import default_catalog

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "api-tests"}
TRACE_CEILING = 50


def make_api(store: EventStore, tmp_path: Path, **options: Any) -> Any:
    """The API over ``store``, with a fresh hub and registry unless given."""
    options.setdefault("hub", LiveHub())
    options.setdefault("registry", CollectorRegistry())
    options.setdefault("access", Access.open())
    config = CandystoreSettings(data_dir=tmp_path, trace_max_nodes=TRACE_CEILING)
    return create_api(store, settings=config, **options)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    """The (path, message) pairs of an error answer, checking it has the one error shape."""
    body = response.json()
    assert set(body) == {"errors"}, body
    return [(error["path"], error["message"]) for error in body["errors"]]


def offer() -> dict[str, Any]:
    return build_envelope(OFFER_TYPE, OFFER, source=SOURCE)
