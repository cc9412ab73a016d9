"""The publishes of one turn of the event loop, written to the confirm channel as one socket write.

aiormq writes every ``basic_publish`` to the socket on its own, and on a machine where the
broker runs alongside, the write (and the loopback delivery it triggers) costs more than
everything else a publish does. The outbox gathers what is published during one turn of
the event loop (a batch, or the single events of concurrent requests) and hands it to the
connection's writer as one frame sequence.

It does what ``aiormq.Channel.basic_publish`` does for each message, under the channel's
lock: the next delivery tag, a confirmation future registered in ``confirmations`` (and
in ``message_id_delivery_tag``, so that a ``basic.return`` finds it), then the frames.
aiormq resolves those futures when the broker confirms, nacks or returns a message; when
the channel closes first, the outbox rejects the ones still pending with the channel's
reason, as aiormq does for its own. Should aiormq stop offering those attributes, each
message falls back to ``basic_publish`` (``wait=False``): slower, equally safe.

The frames themselves are pamqp's. Marshalling a content header is most of what a publish
costs here, and the headers of one stream of events differ only in message id and body
size, so :class:`HeaderFrames` marshals one per kind of message and patches those two in.
"""

from __future__ import annotations

import asyncio
import copy
import operator
import uuid
from dataclasses import dataclass
from typing import Any

import aiormq
import aiormq.exceptions
import pamqp.frame
from aiormq.abc import ChannelFrame
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

__all__ = ["HeaderFrames", "Outbox"]

_CHANNEL_INTERNALS = (
    "lock",
    "delivery_tag",
    "confirmations",
    "message_id_delivery_tag",
    "write_queue",
    "number",
    "max_content_size",
    "closing",
)
_METHOD_FRAMES_KEPT = 4096  # exchanges x routing keys: event types, retry and dead-letter keys
_HEADER_TEMPLATES_KEPT = 256  # kinds of message: properties other than the id, and the id's length
_BODY_SIZE = slice(11, 19)  # in a content header frame: type, channel, size, class, weight, then this
_OTHER_PROPERTIES = operator.attrgetter(
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "timestamp",
    "message_type",
    "user_id",
    "app_id",
    "cluster_id",
)


class HeaderFrames:
    """Content header frames, as pamqp marshals them, made from one template per kind of message.

    A kind is a channel and every property except ``message_id`` and ``headers``, plus the
    id's length in bytes. Its template is marshalled twice with different placeholder ids;
    where the two differ is where an id goes. A message with ``headers`` (a retry or
    dead-letter copy) is marshalled by pamqp as it is.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[object, ...], tuple[bytes, int]] = {}

    def frame(self, number: int, properties: Basic.Properties, body_size: int) -> bytes:
        message_id = properties.message_id
        if properties.headers is not None or not message_id:
            return pamqp.frame.marshal(ContentHeader(properties=properties, body_size=body_size), number)
        id_bytes = message_id.encode()
        key = (number, len(id_bytes), *_OTHER_PROPERTIES(properties))
        template = self._templates.get(key)
        if template is None:
            template = self._template(number, properties, len(id_bytes))
            if len(self._templates) >= _HEADER_TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = template
        frame, at = template
        return b"".join(
            (
                frame[: _BODY_SIZE.start],
                body_size.to_bytes(8, "big"),
                frame[_BODY_SIZE.stop : at],
                id_bytes,
                frame[at + len(id_bytes) :],
            )
        )

    @staticmethod
    def _template(number: int, properties: Basic.Properties, id_length: int) -> tuple[bytes, int]:
        """The frame with a placeholder id and no body, and the offset of the id in it."""
        placeholder = copy.copy(properties)
        frames = []
        for filler in ("a", "b"):
            placeholder.message_id = filler * id_length
            frames.append(pamqp.frame.marshal(ContentHeader(properties=placeholder, body_size=0), number))
        first, second = frames
        at = next(index for index, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
        return first, at


@dataclass(slots=True)
class _Publish:
    channel: aiormq.Channel
    body: bytes
    properties: Basic.Properties
    exchange: str
    routing_key: str
    confirmation: asyncio.Future[Any]


class Outbox:
    """Coalesces publishes into one write per channel and turn; each caller awaits its own confirmation."""

    def __init__(self) -> None:
        self._pending: list[_Publish] = []
        self._writer: asyncio.Task[None] | None = None
        self._watched: aiormq.Channel | None = None  # the channel whose closing rejects our confirmations
        self._method_frames: dict[tuple[int, str, str], bytes] = {}
        self._header_frames = HeaderFrames()

    def publish(
        self, channel: aiormq.Channel, body: bytes, properties: Basic.Properties, *, exchange: str, routing_key: str
    ) -> asyncio.Future[Any]:
        """Queue one mandatory publish; the future resolves to what ``basic_publish`` would return, or raises."""
        if channel is not self._watched:
            if not _coalescable(channel):
                publishing = channel.basic_publish(
                    body, exchange=exchange, routing_key=routing_key, properties=properties, mandatory=True, wait=False
                )
                return asyncio.ensure_future(publishing)
            self._watched = channel
            channel.closing.add_done_callback(lambda closed: _reject_pending(channel, closed))
        if not properties.message_id:  # a basic.return is matched to its publish by message id
            properties.message_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        confirmation: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Publish(channel, body, properties, exchange, routing_key, confirmation))
        if self._writer is None:
            # Runs after everything else ready in this turn: whatever they publish joins the same write.
            self._writer = loop.create_task(self._write())
        return confirmation

    async def _write(self) -> None:
        pending, self._pending, self._writer = self._pending, [], None
        by_channel: dict[aiormq.Channel, list[_Publish]] = {}
        for item in pending:
            by_channel.setdefault(item.channel, []).append(item)
        for channel, items in by_channel.items():
            try:
                await self._write_to(channel, items)
            except Exception as exc:  # noqa: BLE001 - handed to each caller, who translates it
                for item in items:
                    if not item.confirmation.done():
                        item.confirmation.set_exception(exc)
            except BaseException:
                for item in items:  # the event loop is going away: the callers learn it was not published
                    item.confirmation.cancel()
                raise

    async def _write_to(self, channel: aiormq.Channel, items: list[_Publish]) -> None:
        # Encoded before any delivery tag is taken: a message that cannot be encoded fails alone, and
        # every tag taken below belongs to a message that reaches the writer (else the broker's
        # confirms would be matched to the wrong messages).
        encoded: list[tuple[_Publish, bytes]] = []
        for item in items:
            try:
                encoded.append((item, self._encode(channel, item)))
            except Exception as exc:  # noqa: BLE001 - pamqp refuses a value: this message fails, the others go
                item.confirmation.set_exception(exc)
        async with channel.lock:  # raises ChannelInvalidStateError when the channel is closed
            confirmations = channel.confirmations
            first_tag = channel.delivery_tag + 1
            payloads: list[bytes] = []
            live: list[_Publish] = []
            for item, payload in encoded:
                if item.confirmation.done():  # rejected already: the channel closed meanwhile
                    continue
                channel.delivery_tag += 1
                confirmations[channel.delivery_tag] = item.confirmation
                payloads.append(payload)
                live.append(item)
            if not payloads:
                return
            try:
                await channel.write_queue.put(ChannelFrame(payload=b"".join(payloads), should_close=False))
            except BaseException:
                # Never handed to the writer: give the tags back, as basic_publish does.
                for tag in range(first_tag, channel.delivery_tag + 1):
                    confirmations.pop(tag, None)
                channel.delivery_tag = first_tag - 1
                raise
            by_message_id = channel.message_id_delivery_tag
            for tag, item in enumerate(live, start=first_tag):
                message_id = str(item.properties.message_id)
                by_message_id[message_id] = tag
                item.confirmation.add_done_callback(_forget(by_message_id, message_id, tag))

    def _encode(self, channel: aiormq.Channel, item: _Publish) -> bytes:
        """The frames of one publish: ``basic.publish`` (the same bytes for every message to one key), header, body."""
        number = channel.number
        key = (number, item.exchange, item.routing_key)
        method = self._method_frames.get(key)
        if method is None:
            if len(self._method_frames) >= _METHOD_FRAMES_KEPT:
                self._method_frames.clear()
            method = pamqp.frame.marshal(
                Basic.Publish(exchange=item.exchange, routing_key=item.routing_key, mandatory=True), number
            )
            self._method_frames[key] = method
        body = item.body
        size = channel.max_content_size
        header = self._header_frames.frame(number, item.properties, len(body))
        chunks = [pamqp.frame.marshal(ContentBody(body[at : at + size]), number) for at in range(0, len(body), size)]
        return b"".join((method, header, *chunks))


def _reject_pending(channel: aiormq.Channel, closed: asyncio.Future[Any]) -> None:
    """The channel closed: its unconfirmed publishes fail with its reason (a lost connection, a 404…)."""
    reason = None if closed.cancelled() else closed.exception()
    error = reason or aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
    for confirmation in list(channel.confirmations.values()):
        if isinstance(confirmation, asyncio.Future) and not confirmation.done():
            confirmation.set_exception(error)
            confirmation.exception()  # retrieved: its caller may have stopped waiting (a timeout)


def _coalescable(channel: aiormq.Channel) -> bool:
    return all(hasattr(channel, name) for name in _CHANNEL_INTERNALS)


def _forget(by_message_id: dict[str, int], message_id: str, tag: int) -> Any:
    def forget(_: asyncio.Future[Any]) -> None:
        if by_message_id.get(message_id) == tag:
            del by_message_id[message_id]

    return forget
