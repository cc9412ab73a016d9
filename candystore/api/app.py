"""Candystore's API factory: query, trace, stats, dead letters, delivery subscriptions, the live stream, the
operations routes (consumer queues, replay), health and metrics.

The API does not own ingestion: whoever runs Candystore (``candystore.service``) builds
the store, the hub the ingestor publishes to, the registry, the publisher and the delivery
manager, and hands them in. The app has no lifespan of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec, Publisher
from bloodbank.topology import STORE_QUEUE
from bloodbank.transport import Transport
from candystore.api.consumers import consumer_routes
from candystore.api.dead_letters import dead_letter_routes
from candystore.api.errors import BODY_ERRORS, TRANSLATIONS
from candystore.api.events import event_routes
from candystore.api.replay import replay_routes
from candystore.api.stats import stats_routes
from candystore.api.stream import stream_routes
from candystore.api.subscriptions import subscription_routes
from candystore.api.trace import trace_routes
from candystore.deliveries import DeliveryDefaults, DeliveryManager, DeliveryPlan, SubscriptionCatalog
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from gumdrop.access_control import Access
from gumdrop.health import StoreReadiness, health_routes
from gumdrop.service_api import ServiceApi, service_api

__all__ = ["create_api"]

_DESCRIPTION = """\
The 33GOD event store: every event as published, queried, traced along its causes,
streamed live (WebSocket `/events/stream`, the filters of `GET /events`), and the dead
letters kept for replay or discard; outbound delivery subscriptions (`/subscriptions`) POST
matching events to HTTP receivers, signed as Standard Webhooks says. Every error answer has one shape:
`{"errors": [{"path", "message"}]}`.
"""


def create_api(
    store: EventStore,
    *,
    settings: CandystoreSettings,
    hub: LiveHub,
    registry: CollectorRegistry,
    access: Access,
    publisher: Publisher | None = None,
    broker_connected: Callable[[], bool] | None = None,
    readiness: Callable[[], Sequence[str]] | None = None,
    subscriptions: SubscriptionCatalog | None = None,
    deliveries: DeliveryManager | None = None,
    transport: Transport | None = None,
    consumers: Sequence[ConsumerSpec] = (),
) -> FastAPI:
    """The HTTP and WebSocket API over ``store``.

    Without ``publisher``, ``POST /dlq/replay`` answers 503; ``broker_connected`` (e.g.
    ``lambda: transport.connected``) makes ``/health/ready`` report the broker too, and
    ``readiness`` (e.g. :meth:`candystore.readiness.Readiness.problems`) whatever else makes it not ready.
    ``subscriptions`` (by default the database's alone) are served under ``/subscriptions``; ``deliveries``,
    when this process delivers them, starts and stops their consumers as they change.
    ``transport`` (by default the publisher's) is read for ``GET /consumers`` (503 without one), which knows
    Candystore's queue, the subscriptions' and ``consumers`` (the watched ones, ``BLOODBANK_WATCH_CONSUMERS``)
    even where the broker cannot list its queues. Without ``publisher``, ``POST /replay`` only counts
    (``dry_run``).
    """
    app = service_api(
        ServiceApi(
            title="Candystore",
            description=_DESCRIPTION,
            name="Candystore",
            service="candystore",
            registry=registry,
            max_body_bytes=settings.max_body_bytes,
            body_setting="CANDYSTORE_MAX_BODY_BYTES",
            cors_origins=settings.cors_origins,
            methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
            translations=TRANSLATIONS,
            body_errors=BODY_ERRORS,
            access=access,
        )
    )
    # The trace route comes before /events/{event_id}; the path parameter cannot hold a slash anyway.
    app.include_router(trace_routes(store, ceiling=settings.trace_max_nodes))
    app.include_router(event_routes(store))
    app.include_router(stream_routes(hub))
    app.include_router(stats_routes(store))
    app.include_router(dead_letter_routes(store, publisher))
    catalog = subscriptions or SubscriptionCatalog(store)
    defaults = DeliveryDefaults.of(settings)
    app.include_router(subscription_routes(catalog, defaults, deliveries))

    async def known_consumers() -> list[ConsumerSpec]:
        delivering = [DeliveryPlan.of(subscription, defaults).spec for subscription in await catalog.all()]
        return [STORE_QUEUE, *delivering, *consumers]

    broker = transport or (publisher.transport if publisher is not None else None)
    app.include_router(consumer_routes(store, broker, known_consumers))
    app.include_router(replay_routes(store, publisher))
    readiness_check = StoreReadiness(store.ping, broker_connected, readiness or (lambda: ()))
    app.include_router(
        health_routes(
            readiness_check,
            registry,
            ready_when="The database answers, the broker is connected and does not block publishing, deliveries move",
        )
    )
    return app
