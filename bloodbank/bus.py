"""The bus as a service uses it: transport, publisher, idempotency and correlation, built from settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Self

import structlog
from redis.asyncio import Redis

from bloodbank.consumer import EventHandler, subscribe
from bloodbank.correlation import CorrelationTracker, LocalCorrelationTracker, RedisCorrelationTracker
from bloodbank.envelope import default_source
from bloodbank.idempotency import IdempotencyStore, LocalIdempotencyStore, RedisIdempotencyStore
from bloodbank.metrics import BloodbankMetrics
from bloodbank.payloads import Payload
from bloodbank.publisher import Publisher
from bloodbank.settings import BloodbankSettings
from bloodbank.signing import MessageSignatures
from bloodbank.transport import Subscription, Transport
from holyfields import EventValidator, default_validator

__all__ = ["Bus", "create_transport"]

log = structlog.get_logger(__name__)


def create_transport(settings: BloodbankSettings, *, connection_name: str = "bloodbank") -> Transport:
    """RabbitMQ when ``BLOODBANK_BROKER_URL`` is set, the embedded SQLite broker otherwise.

    RabbitMQ's TLS settings are checked here, before any connection: a password in clear text
    to another machine, or TLS files that cannot be used, raise
    :class:`~bloodbank.transport.rabbitmq.tls.BrokerTLSError`.
    """
    if settings.broker_url:
        from bloodbank.transport.rabbitmq import RabbitMQTransport  # noqa: PLC0415 - only when configured
        from bloodbank.transport.rabbitmq.tls import broker_tls  # noqa: PLC0415 - only when configured

        return RabbitMQTransport(
            settings.broker_url,
            connection_name=connection_name,
            fast_publish=settings.fast_publish,
            ssl_context=broker_tls(settings),
            management_url=settings.management_url,
        )
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415 - only when configured

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedTransport(settings.embedded_path)


class Bus:
    """A connected bus: publish and subscribe with validation, retries, idempotency and correlation.

    With ``BLOODBANK_SIGNING_KEYS`` set, every message it publishes is signed and every one its
    subscriptions receive is verified before it is handled (:mod:`bloodbank.signing`).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        settings: BloodbankSettings,
        validator: EventValidator | None = None,
        idempotency: IdempotencyStore | None = None,
        tracker: CorrelationTracker | None = None,
        metrics: BloodbankMetrics | None = None,
        source: Mapping[str, Any] | None = None,
        on_unrouted: Callable[[str, str], Awaitable[None] | None] | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.validator = validator or default_validator()
        self.metrics = metrics or BloodbankMetrics()
        self.metrics.report_blocked(lambda: transport.blocked)
        self.idempotency = idempotency
        self.tracker = tracker
        self.signatures = MessageSignatures.from_settings(
            settings.signing_keys, accept_unsigned=settings.accept_unsigned
        )
        if self.signatures is not None:  # which key signs is what an operator checks during a rotation
            log.info(
                "signing bus messages",
                key_id=self.signatures.signing_key_id,
                verifying=list(self.signatures.key_ids),
                accept_unsigned=self.signatures.accept_unsigned,
            )
        self.publisher = Publisher(
            transport,
            validator=self.validator,
            source=source or default_source(settings.source_app),
            publish_timeout=settings.publish_timeout,
            window=settings.publish_window,
            tracker=tracker,
            metrics=self.metrics,
            on_unrouted=on_unrouted,
            signatures=self.signatures,
        )
        self._subscriptions: list[Subscription] = []

    @classmethod
    async def start(
        cls, settings: BloodbankSettings | None = None, *, transport: Transport | None = None, **options: Any
    ) -> Bus:
        """Connect, declare the topology and return a ready bus (local or Redis stores per settings)."""
        settings = settings or BloodbankSettings()
        transport = transport or create_transport(settings)
        await transport.connect()
        await transport.declare_topology()
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url)
            prefix = settings.redis_prefix
            options.setdefault(
                "idempotency", RedisIdempotencyStore(redis, ttl=settings.idempotency_ttl, prefix=f"{prefix}handled:")
            )
            options.setdefault(
                "tracker", RedisCorrelationTracker(redis, ttl=settings.correlation_ttl, prefix=f"{prefix}corr:")
            )
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            options.setdefault(
                "idempotency",
                LocalIdempotencyStore(settings.data_dir / "handled.sqlite3", ttl=settings.idempotency_ttl),
            )
            options.setdefault("tracker", LocalCorrelationTracker(ttl=settings.correlation_ttl))
        bus = cls(transport, settings=settings, **options)
        watch = getattr(transport, "watch_unrouted", None)
        if watch is not None:  # RabbitMQ tells about unrouted events asynchronously
            bus._subscriptions.append(await watch(bus.publisher.notify_unrouted))
        return bus

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close(timeout=self.settings.publish_timeout)

    async def publish(self, event_type: str, payload: Payload, **options: Any) -> str:
        """Publish one event (a dict, or the Pydantic model of its type); its id once the broker confirmed it."""
        return await self.publisher.publish(event_type, payload, **options)

    async def subscribe(
        self, consumer: str, bindings: Sequence[str], handler: EventHandler, *, prefetch: int = 100
    ) -> Subscription:
        subscription = await subscribe(
            self.transport,
            consumer,
            bindings,
            handler,
            validator=self.validator,
            prefetch=prefetch,
            idempotency=self.idempotency,
            tracker=self.tracker,
            metrics=self.metrics,
            signatures=self.signatures,
        )
        self._subscriptions.append(subscription)
        return subscription

    async def close(self, *, timeout: float = 30.0) -> None:
        """Stop every subscription (finishing the messages in hand), then disconnect."""
        for subscription in reversed(self._subscriptions):
            await subscription.stop(timeout=timeout)
        self._subscriptions.clear()
        await self.transport.close()
        for store in (self.idempotency, self.tracker):
            if store is not None:
                await store.close()
