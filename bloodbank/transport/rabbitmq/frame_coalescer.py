"""The publishes of one turn of the event loop, written to the confirm channel as one socket write.

aiormq writes every ``basic_publish`` to the socket on its own, and on a machine where the
broker runs alongside, the write (and the loopback delivery it triggers) costs more than
everything else a publish does. The coalescer gathers what is published during one turn
of the event loop (a batch, or the single events of concurrent requests) and hands it to
the connection's writer as one frame sequence.

It does what ``aiormq.Channel.basic_publish`` does for each message, under the channel's
lock: the next delivery tag, a confirmation future registered where aiormq's confirm and
return handlers find it, then the frames. aiormq resolves those futures when the broker
confirms, nacks or returns a message; when the channel closes first, the coalescer
rejects the ones still pending with the channel's reason, as aiormq does for its own.
Every aiormq and pamqp internal this takes is in :mod:`.wire`, which checks them; the
publisher uses the coalescer only on a channel that check passed.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import aiormq.exceptions
from pamqp.commands import Basic

from bloodbank.transport.rabbitmq.wire import ChannelWire, PublishFrames

__all__ = ["FrameCoalescer"]


@dataclass(slots=True)
class _Publish:
    wire: ChannelWire
    body: bytes
    properties: Basic.Properties
    exchange: str
    routing_key: str
    confirmation: asyncio.Future[Any]


class FrameCoalescer:
    """Coalesces publishes into one write per channel and turn; each caller awaits its own confirmation."""

    def __init__(self) -> None:
        self._pending: list[_Publish] = []
        self._writer: asyncio.Task[None] | None = None
        self._watched: ChannelWire | None = None  # the channel whose closing rejects our confirmations
        self._frames = PublishFrames()

    def publish(
        self, wire: ChannelWire, body: bytes, properties: Basic.Properties, *, exchange: str, routing_key: str
    ) -> asyncio.Future[Any]:
        """Queue one mandatory publish; the future resolves to what ``basic_publish`` would return, or raises."""
        if wire is not self._watched:
            self._watched = wire
            wire.on_close(lambda closed: _reject_pending(wire, closed))
        if not properties.message_id:  # a basic.return is matched to its publish by message id
            properties.message_id = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        confirmation: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Publish(wire, body, properties, exchange, routing_key, confirmation))
        if self._writer is None:
            # Runs after everything else ready in this turn: whatever they publish joins the same write.
            self._writer = loop.create_task(self._write())
        return confirmation

    async def _write(self) -> None:
        pending, self._pending, self._writer = self._pending, [], None
        by_channel: dict[ChannelWire, list[_Publish]] = {}
        for item in pending:
            by_channel.setdefault(item.wire, []).append(item)
        for wire, items in by_channel.items():
            try:
                await self._write_to(wire, items)
            except Exception as exc:  # noqa: BLE001 - handed to each caller, who translates it
                for item in items:
                    if not item.confirmation.done():
                        item.confirmation.set_exception(exc)
            except BaseException:
                for item in items:  # the event loop is going away: the callers learn it was not published
                    item.confirmation.cancel()
                raise

    async def _write_to(self, wire: ChannelWire, items: list[_Publish]) -> None:
        # Encoded before any delivery tag is taken: a message that cannot be encoded fails alone, and
        # every tag taken below belongs to a message that reaches the writer (else the broker's
        # confirms would be matched to the wrong messages).
        encoded: list[tuple[_Publish, bytes]] = []
        for item in items:
            try:
                frames = self._frames.encode(
                    wire, item.body, item.properties, exchange=item.exchange, routing_key=item.routing_key
                )
            except Exception as exc:  # noqa: BLE001 - pamqp refuses a value: this message fails, the others go
                item.confirmation.set_exception(exc)
            else:
                encoded.append((item, frames))
        async with wire.lock():  # raises ChannelInvalidStateError when the channel is closed
            live = [(item, frames) for item, frames in encoded if not item.confirmation.done()]
            if not live:  # every one rejected already: the channel closed meanwhile
                return
            first = wire.register([item.confirmation for item, _ in live])
            try:
                await wire.write(b"".join(frames for _, frames in live))
            except BaseException:
                wire.unregister(first)  # never handed to the writer: the tags are free again
                raise
            wire.expect_returns([(str(item.properties.message_id), item.confirmation) for item, _ in live], first)


def _reject_pending(wire: ChannelWire, closed: asyncio.Future[Any]) -> None:
    """The channel closed: its unconfirmed publishes fail with its reason (a lost connection, a 404…)."""
    reason = None if closed.cancelled() else closed.exception()
    error = reason or aiormq.exceptions.ChannelInvalidStateError(f"{wire.channel!r} closed")
    for confirmation in wire.pending():
        confirmation.set_exception(error)
        confirmation.exception()  # retrieved: its caller may have stopped waiting (a timeout)
