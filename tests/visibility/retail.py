"""Retail events for the visibility tests: offers, snapshots, placements and their envelopes, at chosen times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bloodbank import build_envelope, uuid7
from visibility.domain.detection import DetectionEngine, Finding

T0 = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)
OFFER_TYPE = "retail.offer.surfaced.v1"
SNAPSHOT_TYPE = "retail.inventory.snapshot.v1"
PLACEMENT_TYPE = "retail.placement.rendered.v1"
SOURCE = {"host": "test", "type": "system", "app": "visibility-tests"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def offer_payload(
    team: str = "magic-apron",
    *,
    product: str = "p1",
    store: str = "s1",
    price: float = 10.0,
    availability: str = "in_stock",
    seconds: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "team": team,
        "product_id": product,
        "store_id": store,
        "price": price,
        "currency": "USD",
        "availability": availability,
        "surfaced_at": at(seconds).isoformat(),
        **extra,
    }


def snapshot_payload(
    *, store: str = "s1", seconds: float = 0.0, items: dict[str, tuple[int, float]] | None = None
) -> dict[str, Any]:
    """``items``: product → (on hand, price)."""
    items = items if items is not None else {"p1": (20, 10.0)}
    return {
        "store_id": store,
        "as_of": at(seconds).isoformat(),
        "items": [{"product_id": p, "on_hand": on_hand, "price": price} for p, (on_hand, price) in items.items()],
    }


def placement_payload(
    team: str = "sponsored",
    *,
    page: str = "home",
    slot: str = "hero",
    product: str = "p1",
    channel: str = "web",
    store: str = "s1",
    seconds: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "team": team,
        "page": page,
        "slot": slot,
        "product_id": product,
        "channel": channel,
        "store_id": store,
        "rendered_at": at(seconds).isoformat(),
        **extra,
    }


@dataclass(frozen=True, slots=True)
class RetailEvent:
    """A retail event as the detector receives it."""

    event_type: str
    payload: dict[str, Any]
    event_id: str


def offer(team: str = "magic-apron", *, event_id: str | None = None, **options: Any) -> RetailEvent:
    return RetailEvent(OFFER_TYPE, offer_payload(team, **options), event_id or uuid7())


def snapshot(*, event_id: str | None = None, **options: Any) -> RetailEvent:
    return RetailEvent(SNAPSHOT_TYPE, snapshot_payload(**options), event_id or uuid7())


def placement(team: str = "sponsored", *, event_id: str | None = None, **options: Any) -> RetailEvent:
    return RetailEvent(PLACEMENT_TYPE, placement_payload(team, **options), event_id or uuid7())


def check(engine: DetectionEngine, event: RetailEvent) -> list[Finding]:
    """What the engine finds on ``event``."""
    return engine.on_event(event.event_type, event.payload, event.event_id)


def offer_event(team: str = "magic-apron", **options: Any) -> dict[str, Any]:
    return build_envelope(OFFER_TYPE, offer_payload(team, **options), source=SOURCE, correlation_ids=[])


def snapshot_event(**options: Any) -> dict[str, Any]:
    return build_envelope(SNAPSHOT_TYPE, snapshot_payload(**options), source=SOURCE, correlation_ids=[])
