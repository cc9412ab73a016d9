"""Publishing on the confirm channel: a batch is pipelined, then every confirm is awaited and answered per message.

Messages are persistent and ``mandatory``. With the alternate exchange on the main
exchange RabbitMQ routes a message no binding matches to ``unrouted.all`` and confirms
it as routed, so a publish cannot tell that it was unrouted (``routed=None``); the
transport's ``watch_unrouted`` reports those. A ``basic.return`` therefore means a
message went nowhere at all (for example a default-exchange publish to a missing queue).

Two paths lead to the socket. The fast one hands frames to aiormq's channel through the
:class:`~.frame_coalescer.FrameCoalescer`, which writes what is published in one turn of
the event loop at once (aio-pika's ``publish`` holds the channel's lock until the socket
took the frame, which lets one publish out per turn). It reaches into aiormq, so it is
taken only on a channel :func:`~.wire.fast_path_problem` finds as expected; otherwise,
or with ``fast=False``, each message goes through aiormq's ``basic_publish``. Which path
and why is logged once, and again whenever it changes. Either way what a publish waits
for is the broker's confirm, and that is what makes it durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any

import aiormq
import aiormq.exceptions
import structlog
from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from bloodbank.errors import BrokerUnavailable
from bloodbank.topology import MAIN_EXCHANGE
from bloodbank.transport.base import OutgoingMessage, PublishResult, PublishStatus
from bloodbank.transport.rabbitmq.errors import CONNECTION_LOST, broker_text, translate
from bloodbank.transport.rabbitmq.frame_coalescer import FrameCoalescer
from bloodbank.transport.rabbitmq.wire import ChannelWire, fast_path_problem

__all__ = ["ConfirmedPublisher", "amqp_properties"]

log = structlog.get_logger(__name__)

_PERSISTENT = 2
_TURNED_OFF = "the fast path is turned off (fast_publish=False)"
_CHANNEL_FAILURES: tuple[type[BaseException], ...] = (aiormq.exceptions.AMQPError, *CONNECTION_LOST)


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
    """Publishes on one robust channel with publisher confirms; ``fast=False`` keeps to ``basic_publish``."""

    def __init__(self, channel: AbstractRobustChannel, *, fast: bool = True) -> None:
        self.channel = channel
        self.fast = fast
        self._coalescer = FrameCoalescer()
        self._checked: aiormq.Channel | None = None  # the aiormq channel the path below was chosen for
        self._wire: ChannelWire | None = None  # set when the fast path fits that channel
        self._told: str | None = None  # the path last logged, and why

    async def publish_each(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        """Publish all, await every confirm within ``timeout``; answer each message, never raise for the broker."""
        sends = [
            (
                m.body,
                amqp_properties(m.message_id, m.headers),
                MAIN_EXCHANGE if m.exchange is None else m.exchange,
                m.routing_key,
            )
            for m in messages
        ]
        return await self._publish(sends, [m.message_id for m in messages], timeout=timeout)

    async def publish_copy(
        self, body: bytes, properties: Basic.Properties, *, exchange: str, routing_key: str, timeout: float
    ) -> None:
        """Publish one message (a retry or dead-letter copy), await its confirm within ``timeout``; raise a failure."""
        message_id = properties.message_id or "?"
        [result] = await self._publish([(body, properties, exchange, routing_key)], [message_id], timeout=timeout)
        failure = result.failure()
        if failure is not None:
            raise failure

    async def _publish(
        self,
        sends: Sequence[tuple[bytes, Basic.Properties, str, str]],
        message_ids: Sequence[str],
        *,
        timeout: float,
    ) -> list[PublishResult]:
        confirmations: list[asyncio.Future[Any]] = []
        unanswered = f"RabbitMQ did not confirm {len(sends)} message(s) within {timeout:g} s"
        try:
            async with asyncio.timeout(timeout):
                channel = await self._open_channel()
                # All go out before any confirm is awaited: the broker confirms them together.
                confirmations = [self._send(channel, *send) for send in sends]
                if confirmations:
                    await asyncio.wait(confirmations)
        except TimeoutError:
            pass
        except _CHANNEL_FAILURES as exc:  # opening the channel failed
            unanswered = str(translate(exc, "opening the publishing channel") or exc)
        finally:
            for confirmation in confirmations:  # nobody waits for the late ones; a late nack is not an error
                if not confirmation.done():
                    confirmation.add_done_callback(_retrieve)
        if len(confirmations) < len(sends):  # the channel never opened: nothing was sent
            return [PublishResult.failed(i, PublishStatus.UNCONFIRMED, unanswered) for i in message_ids]
        return [
            _answer(confirmation, message_id, unanswered)
            for confirmation, message_id in zip(confirmations, message_ids, strict=True)
        ]

    async def _open_channel(self) -> aiormq.Channel:
        # After a channel error (a publish to a missing exchange) the robust channel reopens itself.
        while self.channel.is_closed:
            await self.channel.ready()
            if self.channel.is_closed:
                await asyncio.sleep(0.01)
        channel = await self.channel.get_underlay_channel()
        if not isinstance(channel, aiormq.Channel):  # aio-pika always runs on aiormq's channel
            raise TypeError(f"expected an aiormq channel under aio-pika's, got {type(channel).__name__}")
        if channel is not self._checked:
            self._choose_path(channel)
        return channel

    def _choose_path(self, channel: aiormq.Channel) -> None:
        """Take the fast path on ``channel`` when it is on and fits; log the path when it differs from the last."""
        self._checked = channel
        problem = fast_path_problem(channel) if self.fast else _TURNED_OFF
        self._wire = ChannelWire(channel) if problem is None else None
        told = f"basic_publish: {problem}" if problem is not None else "fast"
        if told == self._told:
            return
        self._told = told
        versions = {"aiormq": version("aiormq"), "pamqp": version("pamqp")}
        if problem is None:
            log.info("publishing on the fast path: one socket write per event-loop turn", path="fast", **versions)
        elif problem == _TURNED_OFF:
            log.info("publishing with basic_publish", path="basic_publish", reason=problem, **versions)
        else:
            log.warning(
                "publishing with basic_publish: aiormq or pamqp differs from what the fast path was written for",
                path="basic_publish",
                reason=problem,
                **versions,
            )

    def _send(
        self, channel: aiormq.Channel, body: bytes, properties: Basic.Properties, exchange: str, routing_key: str
    ) -> asyncio.Future[Any]:
        if self._wire is not None:
            return self._coalescer.publish(self._wire, body, properties, exchange=exchange, routing_key=routing_key)
        publishing = channel.basic_publish(
            body, exchange=exchange, routing_key=routing_key, properties=properties, mandatory=True, wait=False
        )
        return asyncio.ensure_future(publishing)


def _answer(confirmation: asyncio.Future[Any], message_id: str, unanswered: str) -> PublishResult:
    """The broker's answer to one publish, as Bloodbank says it."""
    if not confirmation.done():
        return PublishResult.failed(message_id, PublishStatus.UNCONFIRMED, unanswered)
    if confirmation.cancelled():  # aiormq cancels the pending confirms of a channel that closes under them
        reason = f"the channel closed before RabbitMQ confirmed message {message_id}"
        return PublishResult.failed(message_id, PublishStatus.UNCONFIRMED, reason)
    exc = confirmation.exception()
    if exc is not None:
        return _refusal(exc, message_id)
    answer = confirmation.result()
    if isinstance(answer, DeliveredMessage) and isinstance(answer.delivery, Basic.Return):
        returned = answer.delivery
        reason = (
            f"returned unroutable ({returned.reply_code} {returned.reply_text}) by exchange "
            f"{returned.exchange!r} for routing key {returned.routing_key!r}: no queue took it"
        )
        return PublishResult.failed(message_id, PublishStatus.RETURNED, reason)
    return PublishResult(message_id, routed=None)


def _refusal(exc: BaseException, message_id: str) -> PublishResult:
    """What the exception a confirmation raised says about its message."""
    if isinstance(exc, aiormq.exceptions.PublishError):
        return PublishResult.failed(message_id, PublishStatus.RETURNED, "returned unroutable: no queue took it")
    if isinstance(exc, aiormq.exceptions.DeliveryError):
        reason = "RabbitMQ refused it (basic.nack): a queue it routes to is full or unavailable"
        return PublishResult.failed(message_id, PublishStatus.NACKED, reason)
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        reason = f"{broker_text(exc)}; declare the topology (`bloodbank topology`)"
        return PublishResult.failed(message_id, PublishStatus.NACKED, reason)
    translated = translate(exc, f"publishing message {message_id}")
    if isinstance(translated, BrokerUnavailable):
        return PublishResult.failed(message_id, PublishStatus.UNCONFIRMED, str(translated))
    if translated is None:  # not the broker's answer: pamqp could not encode the message
        log.error("a message could not be published", event_id=message_id, exc_info=exc)
        return PublishResult.failed(message_id, PublishStatus.NACKED, f"{type(exc).__name__}: {exc}")
    return PublishResult.failed(message_id, PublishStatus.NACKED, str(translated))


def _retrieve(confirmation: asyncio.Future[Any]) -> None:
    if not confirmation.cancelled():
        confirmation.exception()
