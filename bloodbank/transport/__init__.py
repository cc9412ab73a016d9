"""Transports: the port (:mod:`bloodbank.transport.base`) and its adapters."""

from bloodbank.transport.base import (
    BrokerQueues,
    ConsumerQueueState,
    Delivery,
    DeliveryHandler,
    OutgoingMessage,
    PublishResult,
    PublishStatus,
    QueueReading,
    QueueState,
    RetryTierState,
    Subscription,
    Transport,
)

__all__ = [
    "BrokerQueues",
    "ConsumerQueueState",
    "Delivery",
    "DeliveryHandler",
    "OutgoingMessage",
    "PublishResult",
    "PublishStatus",
    "QueueReading",
    "QueueState",
    "RetryTierState",
    "Subscription",
    "Transport",
]
