"""Publishing on the confirm channel: a batch is pipelined, then every confirm is awaited.

Messages are persistent and ``mandatory``. With the alternate exchange on the main
exchange RabbitMQ routes a message no binding matches to ``unrouted.all`` and confirms
it as routed, so a publish cannot tell that it was unrouted (``routed=None``); the
transport's ``watch_unrouted`` reports those. A ``basic.return`` therefore means a
message went nowhere at all (for example a default-exchange publish to a missing queue).

Frames go to aiormq's channel through the :class:`~.outbox.Outbox`, which writes what is
published in one turn of the event loop at once. (aio-pika's ``publish`` holds the
channel's lock until the socket took the frame, which lets one publish out per turn.)
What a publish waits for is the broker's confirm, and that is what makes it durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import aiormq
import aiormq.exceptions
from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from bloodbank.errors import BrokerUnavailable, PublishFailed
from bloodbank.topology import MAIN_EXCHANGE
from bloodbank.transport.base import OutgoingMessage, PublishResult
from bloodbank.transport.rabbitmq.errors import broker_text, translate
from bloodbank.transport.rabbitmq.outbox import Outbox

__all__ = ["ConfirmedPublisher", "amqp_properties"]

_PERSISTENT = 2


def amqp_properties(
    message_id: str | None,
    headers: Mapping[str, Any],
    *,
    content_type: str = "application/json",
    content_encoding: str | None = None,
) -> Basic.Properties:
    """The AMQP properties of an event: JSON, persistent, with its id and headers."""
    return Basic.Properties(
        message_id=message_id,
        headers=dict(headers) if headers else None,  # no table at all: less to encode and to send
        content_type=content_type,
        content_encoding=content_encoding,
        delivery_mode=_PERSISTENT,
    )


class ConfirmedPublisher:
    """Publishes on one robust channel with publisher confirms."""

    def __init__(self, channel: AbstractRobustChannel) -> None:
        self.channel = channel
        self._outbox = Outbox()

    async def publish_batch(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        """Publish all, await all confirms within ``timeout``; raise the first failure in message order.

        A lost connection outranks a refusal: the caller retries the batch when the broker is back.
        """
        confirmations: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(timeout):
                channel = await self._open_channel()
                # All go out before any confirm is awaited: the broker confirms them together.
                confirmations = [self._send(channel, m) for m in messages]
                outcomes = [
                    await self._outcome(confirmation, m.message_id)
                    for confirmation, m in zip(confirmations, messages, strict=True)
                ]
        except TimeoutError as exc:
            for confirmation in confirmations:  # nobody waits for these any more; a late nack is not an error
                confirmation.add_done_callback(_retrieve)
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm {len(messages)} message(s) within {timeout:g} s"
            ) from exc
        failures = [outcome for outcome in outcomes if outcome is not None]
        for failure in failures:
            if isinstance(failure, BrokerUnavailable):
                raise failure
        if failures:
            raise failures[0]
        return [PublishResult(m.message_id, routed=None) for m in messages]

    async def publish_copy(
        self, body: bytes, properties: Basic.Properties, *, exchange: str, routing_key: str, timeout: float
    ) -> None:
        """Publish one message (a retry or dead-letter copy) and await its confirm within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                channel = await self._open_channel()
                sent = self._outbox.publish(channel, body, properties, exchange=exchange, routing_key=routing_key)
                await self._confirmed(sent, properties.message_id or "?")
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm the copy to {routing_key!r} within {timeout:g} s"
            ) from exc

    async def _open_channel(self) -> aiormq.Channel:
        # After a channel error (a publish to a missing exchange) the robust channel reopens itself.
        while self.channel.is_closed:
            await self.channel.ready()
            if self.channel.is_closed:
                await asyncio.sleep(0.01)
        channel = await self.channel.get_underlay_channel()
        if not isinstance(channel, aiormq.Channel):  # aio-pika always runs on aiormq's channel
            raise TypeError(f"expected an aiormq channel under aio-pika's, got {type(channel).__name__}")
        return channel

    def _send(self, channel: aiormq.Channel, message: OutgoingMessage) -> asyncio.Future[Any]:
        return self._outbox.publish(
            channel,
            message.body,
            amqp_properties(message.message_id, message.headers),
            exchange=MAIN_EXCHANGE if message.exchange is None else message.exchange,
            routing_key=message.routing_key,
        )

    async def _outcome(self, confirmation: asyncio.Future[Any], message_id: str) -> BaseException | None:
        """One message's confirm; its failure is returned, so that the others of the batch are still awaited."""
        try:
            await self._confirmed(confirmation, message_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to publish_batch, which raises it in order
            return exc
        return None

    @staticmethod
    async def _confirmed(confirmation: asyncio.Future[Any], message_id: str) -> None:
        """Wait for the broker's answer to one publish; raise it as Bloodbank's."""
        try:
            answer = await confirmation
        except (aiormq.exceptions.DeliveryError, aiormq.exceptions.PublishError) as exc:
            if isinstance(exc, aiormq.exceptions.PublishError):
                raise PublishFailed(message_id, "returned unroutable: no queue took it") from exc
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
        if isinstance(answer, DeliveredMessage) and isinstance(answer.delivery, Basic.Return):
            returned = answer.delivery
            raise PublishFailed(
                message_id,
                f"returned unroutable ({returned.reply_code} {returned.reply_text}) by exchange "
                f"{returned.exchange!r} for routing key {returned.routing_key!r}: no queue took it",
            )


def _retrieve(confirmation: asyncio.Future[Any]) -> None:
    if not confirmation.cancelled():
        confirmation.exception()
