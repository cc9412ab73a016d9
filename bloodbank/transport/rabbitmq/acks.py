"""The acknowledgements of one channel, coalesced into as few ``basic.ack`` frames as the semantics allow.

One frame per message costs a socket write each, on the client and on a broker that
shares the machine. Instead, each handled delivery is marked here and, once per turn of
the event loop, the handled deliveries older than every one still in a handler are
acknowledged with one ``basic.ack multiple=True``; those behind a delivery still in its
handler are acknowledged one by one, so a slow handler never holds the others back.

Why "up to N" stays safe: delivery tags on a channel start at 1 and grow by one per
delivery, and every delivery on a consumer's channel is registered here as it arrives,
so every tag up to the newest is known. ``N`` is the newest marked tag below the oldest
delivery still in a handler: every tag up to it is marked now or was settled by a frame
already (which the broker no longer holds), and ``N`` itself is still held by the broker.
A delivery given back (``basic.nack``) is sent at once, and passed over only once its
frame is queued. Frames leave in the order they were decided, so the broker never hears
of a tag twice.

Should a tag ever be missing (a delivery that reached no handler, for instance to a
consumer the broker cancelled), the channel falls back to one frame per message for good
(:meth:`ChannelAcks.single_frames`).
"""

from __future__ import annotations

import asyncio

import aiormq.abc
import structlog

__all__ = ["ChannelAcks"]

log = structlog.get_logger(__name__)

_Frames = list[tuple[int, bool]]  # (delivery tag, multiple)


class ChannelAcks:
    """Acknowledgements for the deliveries of one (aiormq) channel; tags are that channel's delivery tags."""

    def __init__(self, channel: aiormq.abc.AbstractChannel, *, queue: str) -> None:
        self.channel = channel
        self.queue = queue
        self._newest = 0  # every tag up to here has been registered
        self._handling: set[int] = set()
        self._marked: list[int] = []  # to acknowledge at the next sweep
        self._multiple = True
        self._flush_scheduled = False
        self._sender: asyncio.Task[None] | None = None  # the latest frames on their way, in order
        self._lost = False  # the channel is gone: the broker gives back everything it had no ack for

    def delivered(self, tag: int) -> None:
        """A delivery arrived; it is in a handler until acknowledged or given back."""
        if tag != self._newest + 1 and self._multiple:
            log.info("a delivery tag is missing; acknowledging one by one from now on", queue=self.queue, tag=tag)
            self.single_frames()
        self._newest = max(self._newest, tag)
        self._handling.add(tag)

    def ack(self, tag: int) -> None:
        """Acknowledge ``tag`` within this turn of the event loop (one-way: there is nothing to wait for)."""
        self._handling.discard(tag)
        self._marked.append(tag)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    async def nack(self, tag: int, *, requeue: bool) -> None:
        """Give ``tag`` back now; raises what aiormq raises when the channel is gone."""
        # It counts as in a handler until its frame is queued (the queue can be full): until then no
        # "up to N" may pass over it, or the broker could take it as acknowledged before the nack.
        try:
            await self.channel.basic_nack(tag, requeue=requeue, wait=False)
        finally:
            self._handling.discard(tag)

    def single_frames(self) -> None:
        """From now on, one frame per acknowledgement: tags on this channel may have gaps."""
        if self._multiple:
            frames = self._sweep()
            self._multiple = False
            if frames:
                self._send_in_order(frames)

    async def flush(self) -> None:
        """Send every acknowledgement marked so far, and wait until all are written (before closing the channel)."""
        self._flush_scheduled = False
        if frames := self._sweep():
            self._send_in_order(frames)
        if self._sender is not None:
            await asyncio.shield(self._sender)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        if frames := self._sweep():
            self._send_in_order(frames)

    def _sweep(self) -> _Frames:
        """The frames for the marked tags: one ``multiple`` below the oldest in a handler, single ones above it."""
        marked, self._marked = self._marked, []
        if not self._multiple:
            return [(tag, False) for tag in marked]
        oldest_handling = min(self._handling, default=self._newest + 1)
        below = [tag for tag in marked if tag < oldest_handling]
        frames: _Frames = [(max(below), True)] if below else []
        frames += [(tag, False) for tag in sorted(marked) if tag > oldest_handling]
        return frames

    def _send_in_order(self, frames: _Frames) -> None:
        previous = self._sender
        self._sender = asyncio.get_running_loop().create_task(self._send(frames, after=previous))

    async def _send(self, frames: _Frames, *, after: asyncio.Task[None] | None) -> None:
        if after is not None and not after.done():
            await asyncio.wait([after])
        for tag, multiple in frames:
            if self._lost:
                return
            try:
                await self.channel.basic_ack(tag, multiple=multiple, wait=False)
            except Exception as exc:  # noqa: BLE001 - whatever aiormq raises here, the channel is gone
                self._lost = True
                log.warning(
                    "could not acknowledge; the broker will deliver those messages again",
                    queue=self.queue,
                    error=f"{type(exc).__name__}: {exc}",
                )
