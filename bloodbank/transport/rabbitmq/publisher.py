"""Publishing on the confirm channel: a batch is pipelined, then every confirm is awaited.

Messages are persistent and ``mandatory``. With the alternate exchange on the main
exchange RabbitMQ routes a message no binding matches to ``unrouted.all`` and confirms
it as routed, so a publish cannot tell that it was unrouted (``routed=None``); the
transport's ``watch_unrouted`` reports those. A ``basic.return`` therefore means a
message went nowhere at all (for example a default-exchange publish to a missing queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
import aiormq
import aiormq.exceptions
from aio_pika.abc import AbstractExchange, AbstractRobustChannel
from aiormq.abc import DeliveredMessage

from bloodbank.errors import BrokerUnavailable, PublishFailed
from bloodbank.topology import MAIN_EXCHANGE
from bloodbank.transport.base import OutgoingMessage, PublishResult
from bloodbank.transport.rabbitmq.errors import broker_text, translate

__all__ = ["ConfirmedPublisher", "amqp_message"]


def amqp_message(message: OutgoingMessage) -> aio_pika.Message:
    """The AMQP form of an outgoing event: JSON, persistent, with its id and headers."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        headers=dict(message.headers),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


class ConfirmedPublisher:
    """Publishes on one robust channel with publisher confirms."""

    def __init__(self, channel: AbstractRobustChannel) -> None:
        self.channel = channel
        self._exchanges: dict[str, AbstractExchange] = {}

    async def publish_batch(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        """Publish all, await all confirms within ``timeout``; raise the first failure in message order.

        A lost connection outranks a refusal: the caller retries the batch when the broker is back.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._until_open()
                outcomes = await asyncio.gather(
                    *(self._publish(amqp_message(m), m.exchange, m.routing_key) for m in messages),
                    return_exceptions=True,
                )
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm {len(messages)} message(s) within {timeout:g} s"
            ) from exc
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        for failure in failures:
            if isinstance(failure, BrokerUnavailable):
                raise failure
        if failures:
            raise failures[0]
        return [PublishResult(m.message_id, routed=None) for m in messages]

    async def publish_copy(self, message: aio_pika.Message, *, exchange: str, routing_key: str, timeout: float) -> None:
        """Publish one message (a retry or dead-letter copy) and await its confirm within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._until_open()
                await self._publish(message, exchange, routing_key)
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm the copy to {routing_key!r} within {timeout:g} s"
            ) from exc

    async def _until_open(self) -> None:
        # After a channel error (a publish to a missing exchange) the robust channel reopens itself.
        while self.channel.is_closed:
            await self.channel.ready()
            if self.channel.is_closed:
                await asyncio.sleep(0.01)

    async def _publish(self, message: aio_pika.Message, exchange_name: str | None, routing_key: str) -> None:
        message_id = message.message_id or "?"
        exchange_name = MAIN_EXCHANGE if exchange_name is None else exchange_name
        try:
            exchange = await self._exchange(exchange_name)
            confirmation = await exchange.publish(message, routing_key, mandatory=True)
        except aiormq.exceptions.DeliveryError as exc:
            raise PublishFailed(
                message_id, "RabbitMQ refused it (basic.nack): a queue it routes to is full or unavailable"
            ) from exc
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            raise PublishFailed(message_id, f"{broker_text(exc)}; declare the topology (`bloodbank topology`)") from exc
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiormq cancels the pending confirms of a channel that closes under them.
            raise BrokerUnavailable(f"the channel closed before RabbitMQ confirmed message {message_id}") from exc
        except Exception as exc:
            translated = translate(exc, f"publishing message {message_id}")
            if translated is None:
                raise
            raise translated from exc
        if isinstance(confirmation, DeliveredMessage) and isinstance(confirmation.delivery, aiormq.spec.Basic.Return):
            returned = confirmation.delivery
            raise PublishFailed(
                message_id,
                f"returned unroutable ({returned.reply_code} {returned.reply_text}) by exchange "
                f"{returned.exchange!r} for routing key {returned.routing_key!r}: no queue took it",
            )

    async def _exchange(self, name: str) -> AbstractExchange:
        if name not in self._exchanges:
            self._exchanges[name] = await self.channel.get_exchange(name, ensure=False)
        return self._exchanges[name]
