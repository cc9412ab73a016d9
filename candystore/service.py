"""Candystore running on a bus: the migrated store, the ingestor, the dead-letter keeper, the unrouted drain,
the outbound deliveries, retention, readiness and the API.

``candystore serve`` runs one service with its own bus; ``33god up`` runs it beside the
gateway on the same bus. Start order: migrate, start consuming, then serve; stop order:
stop serving, store the batch in hand and acknowledge it, release the rest, close.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from bloodbank import Bus, ConsumerSpec
from candystore.api import create_api
from candystore.dead_letters import DeadLetterKeeper
from candystore.deliveries import DeliveryManager, Subscription, SubscriptionCatalog, load_deliveries_file
from candystore.ingest import Ingestor
from candystore.live import LiveHub
from candystore.readiness import Readiness
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from candystore.store.migrate import upgrade
from candystore.unrouted import UnroutedDrain
from gumdrop.access_control import Access
from gumdrop.background import Background

__all__ = ["CandystoreService"]

log = structlog.get_logger(__name__)

DEAD_LETTER_COUNT_PERIOD = 10.0
"""Seconds between refreshes of the ``candystore_dead_letters{state}`` gauge."""


class CandystoreService:
    """Candystore's consumers, retention job and API over one started :class:`~bloodbank.Bus`.

    ``DELIVERIES_FILE`` is read here: a file that cannot be used raises
    :class:`~candystore.deliveries.DeliveriesFileError` naming the line and the field.
    ``subscriptions`` are defined by the program running Candystore (``33god up --demo`` adds its
    receiver's) and are read-only through the API, like the file's, which come first.
    """

    def __init__(
        self,
        settings: CandystoreSettings,
        bus: Bus,
        *,
        registry: CollectorRegistry | None = None,
        access: Access | None = None,
        subscriptions: Sequence[Subscription] = (),
    ) -> None:
        self.settings = settings
        self.access = access or Access.from_settings(origins=settings.cors_origins, host=settings.host)
        self.bus = bus
        self.registry = registry or CollectorRegistry()
        self.store = EventStore.open(settings.sqlalchemy_url, connect_args=settings.connect_args)
        self.hub = LiveHub(max_subscribers=settings.max_stream_subscribers)
        self.ingestor = Ingestor(
            bus.transport,
            self.store,
            settings=settings,
            validator=bus.validator,
            registry=self.registry,
            on_committed=self.hub.publish,
            signatures=bus.signatures,
        )
        self.keeper = DeadLetterKeeper(bus.transport, self.store, settings=settings, registry=self.registry)
        file_subscriptions = load_deliveries_file(settings.deliveries_file) if settings.deliveries_file else []
        self.subscriptions = SubscriptionCatalog(self.store, [*file_subscriptions, *subscriptions])
        self.deliveries = DeliveryManager(self.subscriptions, bus, settings=settings, registry=self.registry)
        self.unrouted = UnroutedDrain(
            bus.transport, registry=self.registry, publish_timeout=bus.settings.publish_timeout
        )
        self.readiness = Readiness(
            ingestion=self.ingestor.batches,
            others=(self.keeper.batches,),
            transport=bus.transport,
            max_held_seconds=settings.ready_max_held_seconds,
            registry=self.registry,
        )
        self.api: FastAPI = create_api(
            self.store,
            settings=settings,
            hub=self.hub,
            registry=self.registry,
            access=self.access,
            publisher=bus.publisher,
            broker_connected=lambda: bus.transport.connected,
            readiness=self.readiness.problems,
            subscriptions=self.subscriptions,
            deliveries=self.deliveries,
            transport=bus.transport,
            consumers=[ConsumerSpec(name, ("#",)) for name in bus.settings.watch_consumers],
        )
        self.background = Background()

    async def start(self, *, migrate: bool = True) -> None:
        """Migrate the database (unless told not to), then consume events, dead letters and unrouted events,
        deliver the subscriptions' events, and apply retention."""
        if migrate:
            await upgrade(self.store.engine)
        self.readiness.start()
        await self.ingestor.start()
        await self.keeper.start()
        await self.unrouted.start()
        await self.deliveries.start()
        self.background.every(self.settings.purge_interval, self._apply_retention, name="candystore-retention")
        # Subscriptions changed through another Candystore process start and stop their consumers here too.
        self.background.every(
            self.settings.delivery_refresh_interval, self.deliveries.refresh, name="candystore-delivery-refresh"
        )
        # Replays and discards through the API change the states too; the gauge follows within this period.
        self.background.every(
            DEAD_LETTER_COUNT_PERIOD, self.keeper.refresh_counts, name="candystore-dead-letter-counts"
        )

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Store what is in hand (within ``timeout``), release the rest unacknowledged, close the live streams."""
        await self.background.stop()
        await self.unrouted.stop(timeout=timeout)
        await self.deliveries.stop(timeout=timeout)
        await self.ingestor.stop(timeout=timeout)
        await self.keeper.stop(timeout=timeout)
        self.hub.close()
        await self.store.close()
        await self.access.close()

    async def _apply_retention(self) -> None:
        if deleted := await self.store.purge(self.settings.retention_days):
            log.info("retention applied", deleted=deleted)
        await self.deliveries.forget_old_deliveries()
