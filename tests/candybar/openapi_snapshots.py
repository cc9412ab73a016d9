"""The OpenAPI documents the UI's typed clients are generated from, kept in the repository.

``python -m tests.candybar.openapi_snapshots`` writes them again (``make ui-api`` does that and
regenerates the TypeScript clients); ``test_openapi_snapshots`` fails when they differ from
what the components serve.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gumdrop.access_control import Access

SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "candybar" / "web" / "src" / "api"


def gateway_document() -> dict[str, Any]:
    from bloodbank import BloodbankSettings  # noqa: PLC0415 - only what is snapshotted is imported
    from bloodbank.gateway import create_gateway  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        return create_gateway(BloodbankSettings(data_dir=Path(data_dir))).openapi()


def candystore_document() -> dict[str, Any]:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from candystore.api import create_api  # noqa: PLC0415
    from candystore.live import LiveHub  # noqa: PLC0415
    from candystore.settings import CandystoreSettings  # noqa: PLC0415
    from candystore.store import EventStore  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        settings = CandystoreSettings(data_dir=Path(data_dir))
        store = EventStore.open(settings.sqlalchemy_url)  # never connects: only the routes are read
        api = create_api(store, settings=settings, hub=LiveHub(), registry=CollectorRegistry(), access=Access.open())
        return api.openapi()


def visibility_document() -> dict[str, Any]:
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from visibility.api import create_api  # noqa: PLC0415
    from visibility.lifecycle import Lifecycle  # noqa: PLC0415
    from visibility.metrics import VisibilityMetrics  # noqa: PLC0415
    from visibility.publishing import OutboxPublisher  # noqa: PLC0415
    from visibility.rules import load_rules  # noqa: PLC0415
    from visibility.settings import VisibilitySettings  # noqa: PLC0415
    from visibility.store import VisibilityStore  # noqa: PLC0415
    from visibility.store.outbox import OutboxEvent  # noqa: PLC0415

    async def never_sent(event: OutboxEvent) -> None:
        raise AssertionError(f"nothing is published while the routes are read ({event.event_type})")

    with tempfile.TemporaryDirectory() as data_dir:
        settings = VisibilitySettings(data_dir=Path(data_dir))
        store = VisibilityStore.open(settings.sqlalchemy_url)  # never connects: only the routes are read
        lifecycle = Lifecycle(store, rules=load_rules(), publisher=OutboxPublisher(store, never_sent))
        api = create_api(
            store,
            settings=settings,
            lifecycle=lifecycle,
            metrics=VisibilityMetrics(CollectorRegistry()),
            access=Access.open(),
            rules=load_rules,
        )
        return api.openapi()


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "candystore": candystore_document,
    "gateway": gateway_document,
    "visibility": visibility_document,
}


def encode(document: dict[str, Any]) -> str:
    """The snapshot's text: sorted keys, so that it changes only when the API does."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def snapshot_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.openapi.json"


def main() -> None:
    for name, document in DOCUMENTS.items():
        snapshot_path(name).write_text(encode(document()), encoding="utf-8")


if __name__ == "__main__":
    main()
