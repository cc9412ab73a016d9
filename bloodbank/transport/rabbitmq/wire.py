"""The aiormq and pamqp internals the fast publish path relies on, in one place, and the check of their shape.

The fast path (:mod:`.frame_coalescer`) does for the publishes of one event-loop turn
what ``aiormq.Channel.basic_publish`` does for one message, from outside aiormq: under
the channel's lock it takes delivery tags, registers each confirmation future where
aiormq's confirm and return handlers look for it, and puts ready-made frames on the
connection's write queue. Content header frames are made from templates, with the body
size, the message id and the header values patched in at the offsets where pamqp writes
them. None of this is public API, so every private name is read here, through
:class:`ChannelWire`, and nowhere else.

:func:`fast_path_problem` checks the installed aiormq and pamqp against what this module
expects (attributes present and of the expected types, the handlers that read the
confirmations present, the frame layout as pamqp marshals it) and answers why the fast
path cannot run, or ``None``. The transport then takes ``basic_publish`` instead:
slower, equally safe. Written against aiormq 7.2 and pamqp 4.0.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import operator
from collections.abc import Callable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, TypeAlias

import aiormq
import pamqp.frame
from aiormq.abc import ChannelFrame
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

__all__ = ["BODY_SIZE", "ChannelWire", "HeaderFrames", "PublishFrames", "channel_problem", "fast_path_problem"]

BODY_SIZE = slice(11, 19)
"""Where a content header frame holds the body size: after type (1), channel (2), size (4), class (2), weight (2)."""

CHANNEL_ATTRIBUTES: Final[dict[str, type]] = {
    "delivery_tag": int,  # the last tag taken; the broker numbers a channel's publishes from 1
    "confirmations": MutableMapping,  # tag -> future, resolved by the confirm, nack and return handlers
    "message_id_delivery_tag": MutableMapping,  # message id -> tag, how a basic.return finds its publish
    "write_queue": asyncio.Queue,  # the connection's writer takes ChannelFrames from here
    "number": int,
    "max_content_size": int,  # frame_max less a body frame's overhead
}
"""Instance attributes of ``aiormq.Channel`` the fast path reads or writes, and their types."""

CHANNEL_PROPERTIES: Final = ("lock", "closing")
"""Properties of ``aiormq.Channel``: the lock ``basic_publish`` holds, the future that resolves on close."""

CHANNEL_HANDLERS: Final = ("_confirm_delivery", "_on_return_frame")
"""aiormq's methods that resolve the futures registered in ``confirmations``."""

FRAME_FIELDS: Final = ("payload", "should_close")
"""Fields of ``aiormq.abc.ChannelFrame`` the fast path fills."""

_METHOD_FRAMES_KEPT = 4096  # exchanges x routing keys: event types, retry and dead-letter keys
_HEADER_TEMPLATES_KEPT = 256  # kinds of message: properties other than the id and header values, and their lengths
_PROBE_SIZE = 0x0102030405060708  # every byte distinct: a shifted offset cannot match by chance
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
_SIGNED_HEADERS: Final = (
    {"x-bloodbank-key-id": "k1", "x-bloodbank-signature": "s" * 44, "traceparent": "", "tracestate": "ü=1"},
    {"x-bloodbank-key-id": "k2", "x-bloodbank-signature": "ß" * 22, "traceparent": "", "tracestate": "é=2"},
)
"""Two messages of one kind with str headers (a multi-byte and an empty value among them), for the frame check."""

_STR_ENCODE: Final[Callable[[Any], bytes]] = str.encode
"""UTF-8 bytes of a ``str``; a ``TypeError`` for any other value, which a template cannot hold."""

_Template: TypeAlias = tuple[list[bytes], Callable[[list[bytes]], tuple[bytes, ...]]]
"""A frame's fixed pieces with gaps between them, and what picks the gaps' values from a message's."""


def fast_path_problem(channel: object) -> str | None:
    """Why the fast path cannot publish on ``channel`` with the installed aiormq and pamqp; ``None`` when it can."""
    return frame_problem() or channel_problem(channel)


def channel_problem(channel: object) -> str | None:
    """What about ``channel`` differs from the aiormq channel the fast path was written for; ``None`` when nothing."""
    if not isinstance(channel, aiormq.Channel):
        return f"the channel is a {type(channel).__qualname__}, not an aiormq.Channel"
    problem = _class_problem(type(channel))
    if problem is not None:
        return problem
    for name, expected in CHANNEL_ATTRIBUTES.items():
        value = getattr(channel, name, None)
        if value is None:
            return f"aiormq.Channel.{name} is gone"
        if not isinstance(value, expected):
            return f"aiormq.Channel.{name} is a {type(value).__qualname__}, not a {expected.__qualname__}"
    if not getattr(channel, "publisher_confirms", False):
        return "the channel does not use publisher confirms"
    return None


def _class_problem(kind: type) -> str | None:
    for name in CHANNEL_PROPERTIES:
        if not isinstance(inspect.getattr_static(kind, name, None), property):
            return f"aiormq.Channel.{name} is no longer a property"
    for name in CHANNEL_HANDLERS:
        if not callable(getattr(kind, name, None)):
            return f"aiormq.Channel.{name} is gone: nothing would resolve the confirmations the fast path registers"
    return None


def frame_problem() -> str | None:
    """What about pamqp's frames or aiormq's ``ChannelFrame`` differs from what the fast path writes; ``None``."""
    names = (
        {field.name for field in dataclasses.fields(ChannelFrame)} if dataclasses.is_dataclass(ChannelFrame) else set()
    )
    missing = [name for name in FRAME_FIELDS if name not in names]
    if missing:
        return f"aiormq.abc.ChannelFrame has no field {missing[0]!r}"
    probe = Basic.Properties(content_type="application/json", delivery_mode=2, message_id="0" * 36)
    marshalled = pamqp.frame.marshal(ContentHeader(properties=probe, body_size=_PROBE_SIZE), 1)
    if marshalled[BODY_SIZE] != _PROBE_SIZE.to_bytes(8, "big"):
        return (
            f"pamqp no longer writes a content header's body size at bytes {BODY_SIZE.start}-{BODY_SIZE.stop - 1} "
            "of the frame (wire.BODY_SIZE)"
        )
    frames = HeaderFrames()
    for message_id, headers in zip(("0193a1b2-0000-7000-8000-000000000001", "ü" * 18), _SIGNED_HEADERS, strict=True):
        for with_headers in (False, True):
            properties = copy.copy(probe)
            properties.message_id = message_id
            properties.headers = dict(headers) if with_headers else None
            expected = pamqp.frame.marshal(ContentHeader(properties=properties, body_size=1234), 1)
            if frames.frame(1, properties, 1234) != expected:
                return "a content header frame made from a template differs from the one pamqp marshals"
    return None


class ChannelWire:
    """The fast path's hands on one aiormq channel; only :func:`fast_path_problem`-checked channels get one."""

    __slots__ = ("channel",)

    def __init__(self, channel: aiormq.Channel) -> None:
        self.channel = channel

    @property
    def number(self) -> int:
        return self.channel.number

    @property
    def max_content_size(self) -> int:
        return self.channel.max_content_size

    def lock(self) -> AbstractAsyncContextManager[None]:
        """The lock ``basic_publish`` holds; raises ``ChannelInvalidStateError`` once the channel is closed."""
        return self.channel.lock

    def on_close(self, callback: Callable[[asyncio.Future[Any]], None]) -> None:
        self.channel.closing.add_done_callback(callback)

    def register(self, confirmations: Sequence[asyncio.Future[Any]]) -> int:
        """Take the next delivery tags for ``confirmations`` (under the lock); the first one taken."""
        channel = self.channel
        first = channel.delivery_tag + 1
        registered = channel.confirmations
        for tag, confirmation in enumerate(confirmations, start=first):
            registered[tag] = confirmation
        channel.delivery_tag = first + len(confirmations) - 1
        return first

    def unregister(self, first: int) -> None:
        """Give back the tags from ``first`` on: their frames never reached the writer (as ``basic_publish`` does)."""
        channel = self.channel
        for tag in range(first, channel.delivery_tag + 1):
            channel.confirmations.pop(tag, None)
        channel.delivery_tag = first - 1

    async def write(self, frames: bytes) -> None:
        """Hand ``frames`` to the connection's writer, which sends them in one socket write."""
        await self.channel.write_queue.put(ChannelFrame(payload=frames, should_close=False))

    def expect_returns(self, publishes: Sequence[tuple[str, asyncio.Future[Any]]], first: int) -> None:
        """Let a ``basic.return`` find the publishes tagged from ``first`` by message id, until each settles."""
        by_message_id = self.channel.message_id_delivery_tag
        for tag, (message_id, confirmation) in enumerate(publishes, start=first):
            by_message_id[message_id] = tag
            confirmation.add_done_callback(_forget(by_message_id, message_id, tag))

    def pending(self) -> list[asyncio.Future[Any]]:
        """The confirmations the broker has not answered yet."""
        return [c for c in self.channel.confirmations.values() if isinstance(c, asyncio.Future) and not c.done()]


class HeaderFrames:
    """Content header frames, as pamqp marshals them, made from one template per kind of message.

    A kind is a channel, every property except ``message_id`` and the header values, the
    header names in order, and the length in bytes of the id and of each header value.
    Its template is marshalled with placeholders of those lengths, once with every
    placeholder ``a`` and once more per placeholder with it alone ``b``; the first byte
    that differs is where that value goes. A frame is then the template's fixed pieces
    joined with the body size and the values. Only headers whose values are all ``str``
    fit a template, as the signature and trace headers of every bus message do; other
    headers (a retry or dead-letter copy), empty headers and messages without an id are
    marshalled by pamqp as they are.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[object, ...], _Template] = {}

    def frame(self, number: int, properties: Basic.Properties, body_size: int) -> bytes:
        message_id = properties.message_id
        headers = properties.headers
        if not message_id:
            return pamqp.frame.marshal(ContentHeader(properties=properties, body_size=body_size), number)
        if headers is None:
            names = None
            values = [body_size.to_bytes(8, "big"), message_id.encode()]
        elif headers:
            names = tuple(headers)
            try:
                values = [body_size.to_bytes(8, "big"), message_id.encode(), *map(_STR_ENCODE, headers.values())]
            except TypeError:
                return pamqp.frame.marshal(ContentHeader(properties=properties, body_size=body_size), number)
        else:
            return pamqp.frame.marshal(ContentHeader(properties=properties, body_size=body_size), number)
        key = (number, names, *map(len, values), _OTHER_PROPERTIES(properties))
        template = self._templates.get(key)
        if template is None:
            template = self._template(number, properties, names, [len(value) for value in values[1:]])
            if len(self._templates) >= _HEADER_TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = template
        fixed, pick = template
        parts = fixed.copy()
        parts[1::2] = pick(values)
        return b"".join(parts)

    @staticmethod
    def _template(
        number: int, properties: Basic.Properties, names: tuple[str, ...] | None, lengths: list[int]
    ) -> _Template:
        """The frame's fixed pieces with an empty gap between each two, and what picks the gaps' values in order.

        ``lengths`` are the byte lengths of the id and the header values; the values are
        picked from the body size, the id and the header values, in that order. An empty
        header value is in the fixed pieces already: it has no gap.
        """
        placeholder = copy.copy(properties)

        def marshal(changed: int | None) -> bytes:
            fillers = [("b" if index == changed else "a") * length for index, length in enumerate(lengths)]
            placeholder.message_id = fillers[0]
            if names is not None:
                placeholder.headers = dict(zip(names, fillers[1:], strict=True))
            return pamqp.frame.marshal(ContentHeader(properties=placeholder, body_size=0), number)

        base = marshal(None)
        gaps = [(BODY_SIZE.start, 0, BODY_SIZE.stop - BODY_SIZE.start)]
        for index, length in enumerate(lengths):
            if length:
                other = marshal(index)
                at = next(at for at, (a, b) in enumerate(zip(base, other, strict=True)) if a != b)
                gaps.append((at, index + 1, length))
        gaps.sort()
        fixed: list[bytes] = []
        start = 0
        for at, _, length in gaps:
            fixed += (base[start:at], b"")
            start = at + length
        fixed.append(base[start:])
        return fixed, operator.itemgetter(*(index for _, index, _ in gaps))


class PublishFrames:
    """The frames of one mandatory publish: ``basic.publish`` (cached per key), content header, body."""

    def __init__(self) -> None:
        self._methods: dict[tuple[int, str, str], bytes] = {}
        self._headers = HeaderFrames()

    def encode(
        self, wire: ChannelWire, body: bytes, properties: Basic.Properties, *, exchange: str, routing_key: str
    ) -> bytes:
        number = wire.number
        key = (number, exchange, routing_key)
        method = self._methods.get(key)
        if method is None:
            if len(self._methods) >= _METHOD_FRAMES_KEPT:
                self._methods.clear()
            method = pamqp.frame.marshal(
                Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True), number
            )
            self._methods[key] = method
        size = wire.max_content_size
        header = self._headers.frame(number, properties, len(body))
        chunks = [pamqp.frame.marshal(ContentBody(body[at : at + size]), number) for at in range(0, len(body), size)]
        return b"".join((method, header, *chunks))


def _forget(
    by_message_id: MutableMapping[str, int], message_id: str, tag: int
) -> Callable[[asyncio.Future[Any]], None]:
    def forget(_: asyncio.Future[Any]) -> None:
        if by_message_id.get(message_id) == tag:
            del by_message_id[message_id]

    return forget
