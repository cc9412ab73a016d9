"""A message received from RabbitMQ and the four ways to settle it.

``retry`` and ``dead_letter`` publish a persistent copy on the confirm channel and
acknowledge the original only after the broker confirmed the copy. When the
original's channel died in between, the acknowledgement is lost and the broker
delivers the message again: at least once, never lost. Acknowledgements go through
the channel's :class:`~.acks.ChannelAcks`, which coalesces them into few frames.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from bloodbank.errors import BloodbankError, BrokerUnavailable
from bloodbank.topology import DEAD_LETTER_EXCHANGE, ConsumerSpec
from bloodbank.transport.base import Delivery, HeaderValue
from bloodbank.transport.rabbitmq.acks import ChannelAcks
from bloodbank.transport.rabbitmq.errors import translate
from bloodbank.transport.rabbitmq.publisher import ConfirmedPublisher, amqp_properties

__all__ = ["RabbitMQDelivery", "SettlementRoutes"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SettlementRoutes:
    """Where a consumer's deliveries go when retried or dead-lettered, and the channel that carries the copies."""

    spec: ConsumerSpec
    publisher: ConfirmedPublisher


class RabbitMQDelivery(Delivery):
    """One message from ``queue``; ``routes`` is None for queues without retry or dead-lettering (``dlq.all``)."""

    def __init__(
        self,
        message: DeliveredMessage,
        *,
        acks: ChannelAcks,
        queue: str,
        routes: SettlementRoutes | None,
        call_timeout: float,
    ) -> None:
        properties = message.header.properties
        self.body = message.body
        self.routing_key = message.routing_key or ""
        self.message_id = properties.message_id
        self.headers: Mapping[str, Any] = properties.headers or {}
        self.redelivered = bool(message.redelivered)
        self.queue = queue
        self._properties = properties
        self._tag = message.delivery_tag or 0
        self._acks = acks
        self._routes = routes
        self._call_timeout = call_timeout
        self._settlement: str | None = None
        acks.delivered(self._tag)

    @property
    def settled(self) -> bool:
        return self._settlement is not None

    async def ack(self) -> None:
        self._claim("ack")
        self._acks.ack(self._tag)

    async def release(self) -> None:
        self._claim("release")
        await self._tell_broker("release", lambda: self._acks.nack(self._tag, requeue=True))

    async def retry(self, *, delay: float, headers: Mapping[str, HeaderValue]) -> None:
        routes = self._require_routes("retry")
        if delay not in routes.spec.retry_delays:
            delays = ", ".join(f"{d:g} s" for d in routes.spec.retry_delays)
            raise ValueError(f"consumer {routes.spec.name!r} has no retry queue for {delay:g} s; its delays: {delays}")
        await self._move("retry", routes, exchange="", routing_key=routes.spec.retry_queue(delay), headers=headers)

    async def dead_letter(self, *, headers: Mapping[str, HeaderValue]) -> None:
        routes = self._require_routes("dead_letter")
        key = routes.spec.dead_letter_routing_key
        await self._move("dead_letter", routes, exchange=DEAD_LETTER_EXCHANGE, routing_key=key, headers=headers)

    async def _move(
        self,
        action: str,
        routes: SettlementRoutes,
        *,
        exchange: str,
        routing_key: str,
        headers: Mapping[str, HeaderValue],
    ) -> None:
        self._claim(action)
        try:
            await routes.publisher.publish_copy(
                self.body, self._copy(headers), exchange=exchange, routing_key=routing_key, timeout=self._call_timeout
            )
        except BaseException:
            self._settlement = None  # not moved: the original stays to be settled otherwise
            raise
        self._acks.ack(self._tag)

    def _copy(self, headers: Mapping[str, HeaderValue]) -> Basic.Properties:
        """The properties of the copy: the original's, persistent, with ``headers`` added."""
        return amqp_properties(
            self.message_id,
            {**self.headers, **headers},
            content_type=self._properties.content_type or "application/json",
            content_encoding=self._properties.content_encoding,
        )

    def _claim(self, action: str) -> None:
        if self._settlement is not None:
            raise BloodbankError(
                f"message {self.message_id} from {self.queue!r} was already settled ({self._settlement}); "
                f"cannot {action} it too: settle each delivery exactly once"
            )
        self._settlement = action

    def _require_routes(self, action: str) -> SettlementRoutes:
        if self._routes is None:
            raise BloodbankError(
                f"{action} is not available for messages from {self.queue!r}: only a consumer queue has retry "
                "queues and a dead-letter route; ack or release the message instead"
            )
        return self._routes

    async def _tell_broker(self, action: str, settle: Callable[[], Awaitable[None]]) -> None:
        # basic.ack and basic.nack are one-way frames: there is no answer to wait for, so no timeout.
        try:
            try:
                await settle()
            except Exception as exc:
                translated = translate(exc, f"{action} of message {self.message_id}")
                if translated is None or translated is exc:
                    raise
                raise translated from exc
        except BrokerUnavailable as exc:
            # The channel that delivered it is gone, so the broker requeued it: it comes back (at least once).
            log.warning(
                "could not settle the message; the broker will deliver it again",
                action=action,
                queue=self.queue,
                message_id=self.message_id,
                error=str(exc),
            )
