"""The RabbitMQ transport: one robust connection and the channels Bloodbank needs on it.

* one confirm channel for every publish, and for the retry and dead-letter copies;
* one channel per subscription, with its own prefetch;
* a short-lived channel per topology operation or queue inspection, because the
  broker closes a channel on any refused declaration: the next call gets a fresh one.

Whether the broker blocks the connection (a memory or disk alarm) is read from it on
demand (see :mod:`.blocking`).

After a reconnect aio-pika reopens the channels; the transport then asks every live
subscription to check that it still consumes (see :mod:`.consumer`).

Queues are described (:meth:`RabbitMQTransport.describe_queues`) from the management HTTP
API when its URL is given (see :mod:`.management`), by passive declarations otherwise or
when it does not answer.

An ``amqps://`` URL connects over TLS with the given SSL context (see :mod:`.tls`), or one
that verifies the broker against the system's CAs: never without verification.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import aio_pika
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.abc import DeliveredMessage
from yarl import URL

from bloodbank.errors import BloodbankError, BrokerUnavailable
from bloodbank.topology import MAIN_EXCHANGE, SHARED_CONSUMERS, UNROUTED_EXCHANGE, ConsumerSpec
from bloodbank.transport.base import (
    BrokerQueues,
    Delivery,
    DeliveryHandler,
    OutgoingMessage,
    PublishResult,
    PublishStatus,
    QueueState,
    Subscription,
    Transport,
)
from bloodbank.transport.rabbitmq import topology
from bloodbank.transport.rabbitmq.acks import ChannelAcks
from bloodbank.transport.rabbitmq.blocking import publishing_blocked
from bloodbank.transport.rabbitmq.consumer import ConsumedQueue, ExistingQueue, QueueConsumer, TemporaryQueue
from bloodbank.transport.rabbitmq.delivery import RabbitMQDelivery, SettlementRoutes
from bloodbank.transport.rabbitmq.errors import broker_call, broker_text
from bloodbank.transport.rabbitmq.management import ManagementApi, ManagementUnavailable, describe_from_listing
from bloodbank.transport.rabbitmq.publisher import ConfirmedPublisher
from bloodbank.transport.rabbitmq.tls import broker_ssl_context, handshake_problem

__all__ = ["RabbitMQTransport"]

log = structlog.get_logger(__name__)

TEMPORARY_QUEUE_PREFETCH = 100
"""Prefetch of ``tail`` and ``watch_unrouted``: copies that are acknowledged as soon as they are handled."""

UnroutedCallback = Callable[[str, str], Awaitable[None] | None]


class RabbitMQTransport(Transport):
    """Bloodbank on RabbitMQ through aio-pika; every broker call is bounded by ``call_timeout`` seconds.

    ``shared_consumers`` are the consumer queues :meth:`declare_topology` declares with the
    shared exchanges (Candystore's by default); ``()`` leaves them to their consumers.
    ``fast_publish=False`` publishes every message with aiormq's ``basic_publish`` instead of
    the fast path (see :mod:`.publisher`), which is otherwise taken when aiormq fits it.
    ``ssl_context`` is the TLS of an ``amqps://`` URL (:func:`.tls.broker_ssl_context`);
    unset, the broker is verified against the system's CAs and the URL's host.
    ``management_url`` is the management HTTP API's base (``http://rabbit:15672``), read by
    :meth:`describe_queues` for unacknowledged counts and rates; unset, queues are read by
    passive declarations.
    """

    name = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        connection_name: str = "bloodbank",
        call_timeout: float = 10.0,
        shared_consumers: Sequence[ConsumerSpec] = SHARED_CONSUMERS,
        fast_publish: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        management_url: str | None = None,
    ) -> None:
        self.url = url
        self.management = (
            ManagementApi(management_url, broker_url=url, timeout=call_timeout) if management_url else None
        )
        # Given for amqps:// always: aiormq would otherwise read the URL's query, no_verify_ssl=1 included.
        self.ssl_context = ssl_context or (broker_ssl_context() if URL(url).scheme == "amqps" else None)
        self.fast_publish = fast_publish
        self.connection_name = connection_name
        self.call_timeout = call_timeout
        self.shared_consumers = tuple(shared_consumers)
        self._connection: AbstractRobustConnection | None = None
        self._publisher: ConfirmedPublisher | None = None
        self._subscriptions: set[QueueConsumer] = set()  # live ones, re-checked after each reconnect

    def __repr__(self) -> str:
        return f"<RabbitMQTransport {self._safe_url} connected={self.connected}>"

    @property
    def _safe_url(self) -> str:
        url = URL(self.url)
        return str(url.with_password("***")) if url.password else str(url)

    # --- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    @property
    def blocked(self) -> bool:
        connection = self._connection
        return connection is not None and self.connected and publishing_blocked(connection)

    async def connect(self, *, timeout: float = 10.0) -> None:
        if self._connection is not None:
            await self._wait_connected(self._connection, timeout)
            return
        try:
            connection = await aio_pika.connect_robust(
                self.url,
                timeout=timeout,
                ssl_context=self.ssl_context,
                client_properties={"connection_name": self.connection_name},
            )
        except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
            problem = (handshake_problem(exc) if self.ssl_context is not None else None) or (
                f"{broker_text(exc)}; check that it runs and that the URL's host, credentials and virtual host "
                "are right"
            )
            raise BrokerUnavailable(f"cannot connect to RabbitMQ at {self._safe_url}: {problem}") from exc
        try:
            async with broker_call("opening the publishing channel", timeout=timeout):
                channel = connection.channel(publisher_confirms=True)
                await channel.initialize()
        except BaseException:
            await connection.close()
            raise
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection = connection
        self._publisher = ConfirmedPublisher(channel, fast=self.fast_publish)

    async def close(self) -> None:
        stops = [s.stop(timeout=self.call_timeout) for s in list(self._subscriptions)]
        for outcome in await asyncio.gather(*stops, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("subscription did not stop cleanly", error=repr(outcome))
        connection, self._connection, self._publisher = self._connection, None, None
        if connection is not None:
            connection.reconnect_callbacks.discard(self._on_reconnect)
            try:
                async with broker_call("closing the connection", timeout=self.call_timeout):
                    await connection.close()
            except BloodbankError as exc:
                log.info("connection not closed cleanly", error=str(exc))

    async def _wait_connected(self, connection: AbstractRobustConnection, timeout: float) -> None:
        # Connected before: the robust connection reconnects on its own; a second one would leak.
        try:
            async with asyncio.timeout(timeout):
                await connection.connected.wait()
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"the connection to RabbitMQ at {self._safe_url} is still reconnecting after {timeout:g} s"
            ) from exc

    def _on_reconnect(self, _connection: object) -> None:
        log.info("reconnected to RabbitMQ; checking the consumers", subscriptions=len(self._subscriptions))
        for subscription in self._subscriptions:
            subscription.schedule_restore()

    def _live_connection(self, operation: str) -> AbstractRobustConnection:
        if self._connection is None:
            raise BrokerUnavailable(f"{operation}: not connected to RabbitMQ at {self._safe_url}; call connect() first")
        if not self.connected:
            raise BrokerUnavailable(f"{operation}: the connection to RabbitMQ at {self._safe_url} is reconnecting")
        return self._connection

    @asynccontextmanager
    async def _admin_channel(self, operation: str) -> AsyncIterator[AbstractChannel]:
        """A fresh plain channel for one operation: never restored, closed after, broker errors translated."""
        connection = self._live_connection(operation)
        async with broker_call(operation, timeout=self.call_timeout):
            channel = aio_pika.Channel(connection, publisher_confirms=False)
            await channel.initialize()
            try:
                yield channel
            finally:
                if not channel.is_closed:  # the broker already closed it after a refusal
                    await channel.close()

    # --- topology -----------------------------------------------------------------------------

    async def declare_topology(self, *, verify_only: bool = False) -> None:
        consumers = tuple(queue for spec in self.shared_consumers for queue in topology.consumer_queues(spec))
        async with self._admin_channel("declaring the topology") as channel:
            await topology.declare(
                channel,
                exchanges=topology.SHARED_EXCHANGES,
                queues=(*topology.SHARED_QUEUES, *consumers),
                verify_only=verify_only,
            )

    async def declare_consumer(self, spec: ConsumerSpec, *, verify_only: bool = False) -> None:
        async with self._admin_channel(f"declaring the queues of consumer {spec.name!r}") as channel:
            await topology.declare(channel, queues=topology.consumer_queues(spec), verify_only=verify_only)

    async def queue_depth(self, queue: str) -> int:
        return (await self.queue_state(queue)).ready

    async def queue_state(self, queue: str) -> QueueState:
        async with self._admin_channel(f"reading the state of {queue!r}") as channel:
            declared = await topology.passive_declare(channel, queue)
        return QueueState(ready=declared.message_count or 0, unacked=None, consumers=declared.consumer_count or 0)

    async def describe_queues(self, consumers: Sequence[ConsumerSpec]) -> BrokerQueues:
        """From the management API (every consumer queue of the virtual host, with rates) when it answers.

        Otherwise, by passive declarations of ``consumers``' queues, saying why in ``problem``
        when the management API was configured but did not answer.
        """
        self._live_connection("reading the queues")  # the broker away is BrokerUnavailable, whatever answers
        if self.management is None:
            return await self.passive_description(consumers)
        try:
            listing = await self.management.queues()
        except ManagementUnavailable as exc:
            log.warning("the management API did not answer; reading queues by passive declarations", error=str(exc))
            return await self.passive_description(consumers, problem=str(exc))
        return describe_from_listing(listing, consumers)

    # --- publishing ---------------------------------------------------------------------------

    async def publish_each(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        try:
            self._live_connection(f"publishing {len(messages)} message(s)")
            publisher = self._require_publisher()
        except BrokerUnavailable as exc:
            return [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, str(exc)) for m in messages]
        if not messages:
            return []
        return await publisher.publish_each(messages, timeout=timeout)

    def _require_publisher(self) -> ConfirmedPublisher:
        if self._publisher is None:
            raise BrokerUnavailable(f"not connected to RabbitMQ at {self._safe_url}; call connect() first")
        return self._publisher

    # --- consuming ----------------------------------------------------------------------------

    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        routes = SettlementRoutes(spec, self._require_publisher())
        return await self._subscribe(ExistingQueue(spec.name), handler, prefetch=prefetch, routes=routes)

    async def consume_queue(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        return await self._subscribe(ExistingQueue(queue), handler, prefetch=prefetch, routes=None)

    async def tail(self, patterns: Sequence[str], handler: DeliveryHandler) -> Subscription:
        return await self._subscribe(
            TemporaryQueue(MAIN_EXCHANGE, patterns), handler, prefetch=TEMPORARY_QUEUE_PREFETCH, routes=None
        )

    async def watch_unrouted(self, callback: UnroutedCallback) -> Subscription:
        """Call ``callback(message_id, routing_key)`` for every message the main exchange could not route.

        RabbitMQ confirms such a message as routed (the alternate exchange took it into
        ``unrouted.all``), so a publisher learns of it only here, shortly after the confirm.
        The watch reads copies from a temporary queue on the unrouted fanout; the originals
        stay in ``unrouted.all``.
        """

        async def tell(delivery: Delivery) -> None:
            pending = callback(delivery.message_id or "", delivery.routing_key)
            if pending is not None:
                await pending

        return await self._subscribe(
            TemporaryQueue(UNROUTED_EXCHANGE, [""]), tell, prefetch=TEMPORARY_QUEUE_PREFETCH, routes=None
        )

    async def _subscribe(
        self, queue: ConsumedQueue, handler: DeliveryHandler, *, prefetch: int, routes: SettlementRoutes | None
    ) -> QueueConsumer:
        operation = f"opening a channel to consume {queue.name or 'a temporary queue'}"
        connection = self._live_connection(operation)
        async with broker_call(operation, timeout=self.call_timeout):
            channel = connection.channel(publisher_confirms=False)
            await channel.initialize()
            await channel.set_qos(prefetch_count=prefetch)

        def delivery(message: DeliveredMessage, acks: ChannelAcks, queue_name: str) -> RabbitMQDelivery:
            return RabbitMQDelivery(message, acks=acks, queue=queue_name, routes=routes, call_timeout=self.call_timeout)

        consumer = QueueConsumer(
            queue,
            channel=channel,
            handler=handler,
            deliveries=delivery,
            admin=self._admin_channel,
            call_timeout=self.call_timeout,
            ack_after_handler=isinstance(queue, TemporaryQueue),
            on_stop=self._subscriptions.discard,
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop(timeout=0)
            raise
        self._subscriptions.add(consumer)
        return consumer
