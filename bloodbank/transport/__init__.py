"""Transports: the port (:mod:`bloodbank.transport.base`) and its adapters."""

from bloodbank.transport.base import (
    Delivery,
    DeliveryHandler,
    OutgoingMessage,
    PublishResult,
    PublishStatus,
    Subscription,
    Transport,
)

__all__ = [
    "Delivery",
    "DeliveryHandler",
    "OutgoingMessage",
    "PublishResult",
    "PublishStatus",
    "Subscription",
    "Transport",
]
