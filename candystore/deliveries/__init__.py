"""Outbound deliveries: events POSTed to HTTP receivers, signed as Standard Webhooks says, retried over hours.

A subscription (:mod:`.subscription`) names event-type patterns, payload filters
(:mod:`candystore.conditions`), a URL and a secret; it is defined in ``DELIVERIES_FILE`` (:mod:`.file`) or
through ``/subscriptions`` (kept in the database), and :class:`SubscriptionCatalog` reads both as
one list. :class:`DeliveryManager` runs one Bloodbank consumer ``delivery.{name}`` per enabled
subscription (:mod:`.consumer`), with the subscription's retry tiers (:mod:`.plan`) and the
platform's dead letters; :mod:`.sender` signs and sends each request. ADR 0020 has the decisions.
"""

from candystore.conditions import Condition, InvalidCondition
from candystore.deliveries.catalog import (
    SubscriptionCatalog,
    SubscriptionError,
    SubscriptionExists,
    SubscriptionNotFound,
    SubscriptionReadOnly,
)
from candystore.deliveries.consumer import DeliveryFailed, SubscriptionConsumer
from candystore.deliveries.file import DeliveriesFileError, load_deliveries_file
from candystore.deliveries.manager import DeliveryManager
from candystore.deliveries.plan import DeliveryDefaults, DeliveryPlan
from candystore.deliveries.sender import Answer, Verdict, WebhookSender
from candystore.deliveries.subscription import (
    Subscription,
    SubscriptionFields,
    SubscriptionSettings,
    SubscriptionSource,
    new_secret,
)

__all__ = [
    "Answer",
    "Condition",
    "DeliveriesFileError",
    "DeliveryDefaults",
    "DeliveryFailed",
    "DeliveryManager",
    "DeliveryPlan",
    "InvalidCondition",
    "Subscription",
    "SubscriptionCatalog",
    "SubscriptionConsumer",
    "SubscriptionError",
    "SubscriptionExists",
    "SubscriptionFields",
    "SubscriptionNotFound",
    "SubscriptionReadOnly",
    "SubscriptionSettings",
    "SubscriptionSource",
    "Verdict",
    "WebhookSender",
    "load_deliveries_file",
    "new_secret",
]
