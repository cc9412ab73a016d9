"""The fixed rules' view of the retail events: a team's offer, and the inventory's truth per product.

Built from the payloads of ``retail.offer.surfaced.v1`` and ``retail.inventory.snapshot.v1``
plus the envelope's ``event_id`` and ``timestamp``. Each carries its event time as epoch
seconds too (``at``), which the rules compare on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Offer", "Snapshot", "SnapshotItem", "Truth", "as_datetime"]

IN_STOCK = frozenset({"in_stock", "limited"})


def as_datetime(value: datetime | str) -> datetime:
    """An aware datetime from an RFC 3339 string or a datetime (a naive one is taken as UTC)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Offer:
    """What one team showed a customer about a product in a store."""

    event_id: str
    team: str
    product_id: str
    store_id: str
    price: float
    currency: str
    availability: str
    surfaced_at: datetime
    quantity: int | None = None
    channel: str | None = None
    customer_facing: bool = True
    timestamp: datetime | None = None
    at: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", self.surfaced_at.timestamp())

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, event_id: str, timestamp: datetime | str | None = None
    ) -> Offer:
        """From a (validated) ``retail.offer.surfaced.v1`` payload."""
        facing = payload.get("customer_facing")
        return cls(
            event_id=str(event_id),
            team=payload["team"],
            product_id=payload["product_id"],
            store_id=payload["store_id"],
            price=float(payload["price"]),
            currency=payload["currency"],
            availability=payload["availability"],
            surfaced_at=as_datetime(payload["surfaced_at"]),
            quantity=payload.get("quantity"),
            channel=payload.get("channel"),
            customer_facing=True if facing is None else bool(facing),
            timestamp=None if timestamp is None else as_datetime(timestamp),
        )

    def as_json(self) -> dict[str, Any]:
        """The offer as a JSON object (for the detector's persisted state)."""
        return {
            "event_id": self.event_id,
            "team": self.team,
            "product_id": self.product_id,
            "store_id": self.store_id,
            "price": self.price,
            "currency": self.currency,
            "availability": self.availability,
            "surfaced_at": self.surfaced_at.isoformat(),
            "quantity": self.quantity,
            "channel": self.channel,
            "customer_facing": self.customer_facing,
            "timestamp": None if self.timestamp is None else self.timestamp.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Offer:
        return cls.from_payload(data, event_id=data["event_id"], timestamp=data.get("timestamp"))


@dataclass(frozen=True, slots=True)
class Truth:
    """The inventory's word on one product in one store: one line of a snapshot."""

    event_id: str
    store_id: str
    product_id: str
    on_hand: int
    price: float
    currency: str
    as_of: datetime
    at: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", self.as_of.timestamp())

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "store_id": self.store_id,
            "product_id": self.product_id,
            "on_hand": self.on_hand,
            "price": self.price,
            "currency": self.currency,
            "as_of": self.as_of.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Truth:
        return cls(
            event_id=str(data["event_id"]),
            store_id=data["store_id"],
            product_id=data["product_id"],
            on_hand=int(data["on_hand"]),
            price=float(data["price"]),
            currency=data["currency"],
            as_of=as_datetime(data["as_of"]),
        )


@dataclass(frozen=True, slots=True)
class SnapshotItem:
    product_id: str
    on_hand: int
    price: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The inventory's ground truth for one store at ``as_of``."""

    event_id: str
    store_id: str
    as_of: datetime
    items: tuple[SnapshotItem, ...]
    currency: str = "USD"
    timestamp: datetime | None = None

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, event_id: str, timestamp: datetime | str | None = None
    ) -> Snapshot:
        """From a (validated) ``retail.inventory.snapshot.v1`` payload."""
        return cls(
            event_id=str(event_id),
            store_id=payload["store_id"],
            as_of=as_datetime(payload["as_of"]),
            items=tuple(
                SnapshotItem(item["product_id"], int(item["on_hand"]), float(item["price"]))
                for item in payload["items"]
            ),
            currency=payload.get("currency") or "USD",
            timestamp=None if timestamp is None else as_datetime(timestamp),
        )

    def truths(self) -> Iterator[Truth]:
        """One :class:`Truth` per product of the snapshot."""
        for item in self.items:
            yield Truth(
                self.event_id, self.store_id, item.product_id, item.on_hand, item.price, self.currency, self.as_of
            )
