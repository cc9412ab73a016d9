"""The delivery manager: one running consumer per enabled subscription, following the catalog as it changes.

:meth:`DeliveryManager.refresh` compares what runs with what the catalog says: a new or
re-enabled subscription starts its consumer, a deleted or disabled one stops it (what is still
queued waits for it), and one whose settings changed restarts with them. A disabled
subscription's queue is declared all the same, so that its events wait from its creation on. The API refreshes
after each change it makes; a periodic refresh brings in the changes other Candystore
processes made. A consumer that cannot start (the broker away, its queue declared otherwise)
is logged and tried again at the next refresh.

A deleted subscription's queues stay on the broker (Bloodbank's transports cannot delete a
consumer's queues): the manager logs their names, and docs/runbooks/deliveries.md says how to
remove them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import CollectorRegistry

from bloodbank import BloodbankError, Bus
from candystore.deliveries.catalog import SubscriptionCatalog
from candystore.deliveries.consumer import SubscriptionConsumer
from candystore.deliveries.plan import DeliveryDefaults, DeliveryPlan
from candystore.deliveries.subscription import Subscription
from candystore.metrics import DeliveryMetrics
from candystore.settings import CandystoreSettings
from candystore.store import StoreError

__all__ = ["DeliveryManager"]

log = structlog.get_logger(__name__)

STOP_GRACE = 5.0
"""Seconds a stopping consumer's requests may take beyond their own timeout before they are cancelled."""


class DeliveryManager:
    """Runs the consumers of the catalog's enabled subscriptions on ``bus``."""

    def __init__(
        self,
        catalog: SubscriptionCatalog,
        bus: Bus,
        *,
        settings: CandystoreSettings,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.catalog = catalog
        self.bus = bus
        self.defaults = DeliveryDefaults.of(settings)
        self.record_days = settings.delivery_record_days
        self.metrics = DeliveryMetrics(registry)
        self._consumers: dict[str, SubscriptionConsumer] = {}
        self._declared: set[DeliveryPlan] = set()
        """Disabled subscriptions whose queue this process declared, as they were then."""
        self._lock = asyncio.Lock()
        self._chores: set[asyncio.Task[None]] = set()
        self._stopping = False

    def running(self, name: str) -> bool:
        """Whether this process consumes subscription ``name``'s queue right now."""
        return name in self._consumers

    def plan(self, subscription: Subscription) -> DeliveryPlan:
        """How ``subscription`` is delivered: its settings with the defaults filled in, its tiers spread."""
        return DeliveryPlan.of(subscription, self.defaults)

    async def start(self) -> None:
        """Start the consumers of the enabled subscriptions (those that cannot start are tried again later)."""
        await self.refresh()

    async def refresh(self) -> None:
        """Start, stop and restart consumers until they match the catalog; a database outage changes nothing."""
        async with self._lock:
            if self._stopping:
                return
            try:
                subscriptions = await self.catalog.all()
            except StoreError as exc:
                log.warning("cannot read the subscriptions; the consumers stay as they are", error=str(exc))
                return
            await self._follow(subscriptions)

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Stop every consumer, letting the requests in flight finish within ``timeout``."""
        async with self._lock:
            self._stopping = True
            for chore in list(self._chores):
                chore.cancel()
            for chore in list(self._chores):
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            consumers, self._consumers = self._consumers, {}
            await asyncio.gather(*(self._stop(consumer, timeout=timeout) for consumer in consumers.values()))

    async def forget(self, subscription: Subscription) -> None:
        """After ``subscription`` was deleted: stop its consumer here, and say which queues remain."""
        await self.refresh()
        spec = self.plan(subscription).spec
        queues = [spec.name, *dict.fromkeys(spec.retry_queue(delay) for delay in spec.retry_delays)]
        log.warning(
            "subscription deleted; its queues remain on the broker and keep collecting matching events until "
            "removed (see docs/runbooks/deliveries.md)",
            subscription=subscription.name,
            queues=queues,
        )

    async def forget_old_deliveries(self) -> None:
        """Delete the delivery records older than ``CANDYSTORE_DELIVERY_RECORD_DAYS``."""
        before = datetime.now(UTC) - timedelta(days=self.record_days)
        if deleted := await self.catalog.store.forget_deliveries(before=before):
            log.info("old delivery records deleted", deleted=deleted, before=before.isoformat())

    async def _follow(self, subscriptions: Sequence[Subscription]) -> None:
        wanted = {s.name: self.plan(s) for s in subscriptions if s.enabled}
        for paused in (self.plan(s) for s in subscriptions if not s.enabled):
            await self._declare(paused)
        for name, consumer in list(self._consumers.items()):
            if wanted.get(name) != consumer.plan:
                del self._consumers[name]
                await self._stop(consumer, timeout=consumer.plan.timeout + STOP_GRACE)
                log.info("stopped delivering", subscription=name, consumer=consumer.plan.spec.name)
        for name, plan in wanted.items():
            if name not in self._consumers:
                await self._start(plan)

    async def _start(self, plan: DeliveryPlan) -> None:
        consumer = SubscriptionConsumer(plan, store=self.catalog.store, metrics=self.metrics, on_gone=self._gone)
        try:
            await consumer.start(self.bus)
        except BloodbankError as exc:
            await self._stop(consumer, timeout=0)
            log.warning(
                "cannot start delivering; trying again at the next refresh",
                subscription=plan.name,
                consumer=plan.spec.name,
                error=str(exc),
            )
            return
        self._consumers[plan.name] = consumer
        log.info(
            "delivering",
            subscription=plan.name,
            consumer=plan.spec.name,
            url=plan.url,
            retry_delays=list(plan.retry_delays),
            concurrency=plan.concurrency,
        )

    async def _declare(self, plan: DeliveryPlan) -> None:
        """Declare a disabled subscription's queue (once per settings), so its events wait for it."""
        if plan in self._declared:
            return
        try:
            await self.bus.transport.declare_consumer(plan.spec)
        except BloodbankError as exc:
            log.warning(
                "cannot declare a paused subscription's queue; trying again", consumer=plan.spec.name, error=str(exc)
            )
            return
        self._declared.add(plan)

    @staticmethod
    async def _stop(consumer: SubscriptionConsumer, *, timeout: float) -> None:
        """Stop ``consumer``; a broker gone meanwhile is logged (what was in hand comes back to the queue)."""
        try:
            await consumer.stop(timeout=timeout)
        except BloodbankError as exc:
            log.warning("stopping a delivery consumer failed", consumer=consumer.plan.spec.name, error=str(exc))

    def _gone(self, name: str, reason: str) -> None:
        """A receiver answered 410: disable the subscription, from a task of its own (its consumer stops)."""
        chore = asyncio.create_task(self._disable(name, reason), name=f"candystore-delivery-disable {name}")
        self._chores.add(chore)
        chore.add_done_callback(self._chores.discard)

    async def _disable(self, name: str, reason: str) -> None:
        log.error("the receiver answered 410 Gone; disabling the subscription", subscription=name, reason=reason)
        try:
            await self.catalog.disable(name, f"the receiver is gone: {reason}")
        except StoreError as exc:
            log.exception("could not disable the subscription; its deliveries go on failing", error=str(exc))
            return
        await self.refresh()
