"""A running consumer: one queue, one channel of its own, handlers run as tasks it tracks.

aio-pika's robust connection reopens the channel after a reconnect, and after a
channel error such as a consumer timeout, but is known to come back with no consumer
on the broker. So this module restores its consumer itself (aio-pika is never asked
to): after every reopen, and when the transport's reconnect hook asks, it checks
whether it still consumes and otherwise consumes again.

A handler that raises does not stop the consumer: the message is released (given back
to the queue) unless the handler settled it. ``stop`` cancels the consumer, lets the
handlers in progress finish, sends their acknowledgements, then closes the channel,
which requeues what stayed unsettled.

Messages are taken straight from aiormq's channel (aio-pika's message wrapper and the
task it adds per message cost more than the rest of the delivery); each handler runs
in a task of ours, because aiormq cancels its own callback tasks when a channel closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import aiormq.abc
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustChannel
from aiormq.abc import DeliveredMessage

from bloodbank.errors import BloodbankError, BrokerUnavailable, TopologyMismatch
from bloodbank.transport.base import Delivery, DeliveryHandler, Subscription
from bloodbank.transport.rabbitmq.acks import ChannelAcks
from bloodbank.transport.rabbitmq.delivery import RabbitMQDelivery
from bloodbank.transport.rabbitmq.errors import broker_call
from bloodbank.transport.rabbitmq.topology import mismatch_as, passive_declare
from gumdrop.backoff import Backoff

__all__ = ["AdminChannels", "ConsumedQueue", "ExistingQueue", "QueueConsumer", "TemporaryQueue"]

log = structlog.get_logger(__name__)

AdminChannels = Callable[[str], AbstractAsyncContextManager[AbstractChannel]]
"""Opens a short-lived channel for one broker operation (named by the argument), bounded and translated."""

_RESTORE_BACKOFF = Backoff(first=0.5, ceiling=30.0)


class ConsumedQueue(ABC):
    """The queue a consumer reads: an existing durable one, or a temporary one it declares itself."""

    name: str

    @abstractmethod
    async def prepare(self, channel: AbstractChannel) -> str:
        """Make sure the queue exists (declaring it if it is ours); return its name."""

    async def consumer_count(self, channel: AbstractChannel) -> int:
        """How many consumers the broker counts on the queue; 0 when the queue is gone."""
        try:
            return (await passive_declare(channel, self.name)).consumer_count or 0
        except TopologyMismatch:
            return 0


class ExistingQueue(ConsumedQueue):
    """A durable queue declared beforehand (a consumer queue, ``dlq.all``, ``unrouted.all``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def prepare(self, channel: AbstractChannel) -> str:
        await passive_declare(channel, self.name)
        return self.name


class TemporaryQueue(ConsumedQueue):
    """An exclusive, auto-delete, server-named classic queue bound to ``exchange``; declared anew after a reconnect."""

    def __init__(self, exchange: str, binding_keys: Sequence[str]) -> None:
        self.exchange = exchange
        self.binding_keys = tuple(binding_keys)
        self.name = ""

    async def prepare(self, channel: AbstractChannel) -> str:
        # Exclusive belongs to the connection, so the consumer's channel can read what this one declared.
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True, arguments={"x-queue-type": "classic"})
        for key in self.binding_keys:
            with mismatch_as(self.exchange):
                await queue.bind(self.exchange, key)
        self.name = queue.name
        return self.name

    async def delete(self, channel: AbstractChannel) -> None:
        """Remove the queue (it would go with the connection anyway; a stopped tail should not wait for that)."""
        if self.name:
            await channel.queue_delete(self.name)


class QueueConsumer(Subscription):
    """Consumes one queue on its own robust channel until stopped; resumes after reconnects."""

    def __init__(
        self,
        queue: ConsumedQueue,
        *,
        channel: AbstractRobustChannel,
        handler: DeliveryHandler,
        deliveries: Callable[[DeliveredMessage, ChannelAcks, str], RabbitMQDelivery],
        admin: AdminChannels,
        call_timeout: float,
        ack_after_handler: bool,
        on_stop: Callable[[QueueConsumer], None],
    ) -> None:
        self.queue = queue
        self.channel = channel
        self._handler = handler
        self._deliveries = deliveries
        self._admin = admin
        self._call_timeout = call_timeout
        self._ack_after_handler = ack_after_handler  # temporary queues: copies, acknowledged once seen
        self._on_stop = on_stop
        self._lock = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._consumer_tag: str | None = None
        self._consuming_on: aiormq.abc.AbstractChannel | None = None
        self._acks: ChannelAcks | None = None
        self._restorer: asyncio.Task[None] | None = None
        self._restore_wanted = False
        self._stopping = False
        self._stopped = asyncio.Event()
        channel.reopen_callbacks.add(self._on_channel_reopened)

    async def start(self) -> None:
        """Start consuming; raises (translated) when the queue is missing or the broker unreachable."""
        await self.ensure_consuming()

    async def ensure_consuming(self) -> None:
        """Consume, unless this channel already does and the broker agrees; idempotent."""
        async with (
            self._lock,
            broker_call(f"consuming {self.queue.name or 'a temporary queue'}", timeout=self._call_timeout),
        ):
            if self._stopping:
                return
            await self.channel.ready()
            underlay = await self.channel.get_underlay_channel()
            if underlay.is_closed:
                raise BrokerUnavailable(f"the channel for {self.queue.name!r} is still reopening")
            if self._consuming_on is underlay:  # consuming here, as far as aio-pika knows: ask the broker
                async with self._admin(f"counting the consumers of {self.queue.name!r}") as admin:
                    if await self.queue.consumer_count(admin) > 0:
                        return
                log.warning("RabbitMQ lost the consumer; consuming again", queue=self.queue.name)
            async with self._admin(f"preparing {self.queue.name or 'a temporary queue'}") as admin:
                name = await self.queue.prepare(admin)
            if self._acks is not None and self._acks.channel is underlay:
                self._acks.single_frames()  # deliveries to the lost consumer may never have reached us
            else:
                self._acks = ChannelAcks(underlay, queue=name)
            consume_ok = await underlay.basic_consume(name, self._on_message, no_ack=False, timeout=self._call_timeout)
            self._consumer_tag = consume_ok.consumer_tag
            self._consuming_on = underlay
            underlay.on_consumer_cancel_callbacks.add(self._on_broker_cancel)

    def schedule_restore(self) -> None:
        """Check (in the background) that the consumer still consumes; retried with pauses until it does."""
        self._restore_wanted = True
        if not self._stopping and (self._restorer is None or self._restorer.done()):
            self._restorer = asyncio.create_task(self._restore(), name=f"restore consumer of {self.queue.name}")

    async def _restore(self) -> None:
        failures = 0
        while self._restore_wanted and not self._stopping:
            self._restore_wanted = False
            try:
                await self.ensure_consuming()
            except BloodbankError as exc:
                error = str(exc)
            except Exception:
                log.exception("could not resume consuming (unexpected error)", queue=self.queue.name)
                return
            else:
                continue
            failures += 1
            pause = _RESTORE_BACKOFF.pause(failures)
            log.error("could not resume consuming; trying again", queue=self.queue.name, error=error, pause=pause)
            self._restore_wanted = True
            await asyncio.sleep(pause)

    def _on_channel_reopened(self, _channel: object) -> None:
        self.schedule_restore()

    def _on_broker_cancel(self, frame: aiormq.spec.Basic.Cancel) -> None:
        # The broker cancels a consumer whose queue was deleted; consuming again fails until it is back.
        if frame.consumer_tag == self._consumer_tag and not self._stopping:
            log.warning("RabbitMQ cancelled the consumer", queue=self.queue.name)
            self._consuming_on = None
            self.schedule_restore()

    async def _on_message(self, message: DeliveredMessage) -> None:
        acks = self._acks
        if acks is None or acks.channel is not message.channel:  # cannot happen: consuming set both
            raise BloodbankError(f"a message for {self.queue.name!r} arrived on a channel it does not consume on")
        delivery = self._deliveries(message, acks, self.queue.name)
        if self._stopping:  # delivered between basic.cancel and its answer
            await delivery.release()
            return
        try:
            pending = self._handler(delivery)
        except Exception as exc:  # noqa: BLE001 - the handler's failure: logged, the message given back
            await self._failed(delivery, exc)
            return
        if pending is None:  # a plain function: it ran here, with no task of its own
            await self._handled(delivery)
            return
        # A task of our own: aiormq would cancel its callback task when the channel closes mid-handler.
        task = asyncio.create_task(self._finish(delivery, pending))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _finish(self, delivery: RabbitMQDelivery, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception as exc:  # noqa: BLE001 - the handler's failure: logged, the message given back
            await self._failed(delivery, exc)
            return
        await self._handled(delivery)

    async def _failed(self, delivery: RabbitMQDelivery, error: Exception) -> None:
        log.error(
            "handler failed; releasing the message",
            queue=self.queue.name,
            message_id=delivery.message_id,
            exc_info=error,
        )
        if not delivery.settled:
            await self._settle_unsettled(delivery, failed=True)

    async def _handled(self, delivery: RabbitMQDelivery) -> None:
        if self._ack_after_handler and not delivery.settled:
            await self._settle_unsettled(delivery, failed=False)

    async def _settle_unsettled(self, delivery: Delivery, *, failed: bool) -> None:
        try:
            if self._ack_after_handler:
                await delivery.ack()  # a copy on a temporary queue: requeueing it would loop
            elif failed:
                await delivery.release()
        except BloodbankError as exc:
            log.warning("could not settle the message", queue=self.queue.name, error=str(exc))

    async def stop(self, *, timeout: float = 30.0) -> None:
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self._on_stop(self)
        self.channel.reopen_callbacks.discard(self._on_channel_reopened)
        try:
            await self._stop_restoring()
            async with self._lock:
                await self._cancel_consumer()
            await self._finish_handlers(timeout)
            if self._acks is not None:
                await self._acks.flush()
            await self._discard_queue()
        finally:
            await self._close_channel()
            self._stopped.set()

    async def _stop_restoring(self) -> None:
        if self._restorer is not None:
            self._restorer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restorer

    async def _cancel_consumer(self) -> None:
        underlay = self._consuming_on
        if underlay is None or self._consumer_tag is None or underlay.is_closed:
            return
        try:
            async with broker_call(f"cancelling the consumer of {self.queue.name!r}", timeout=self._call_timeout):
                await underlay.basic_cancel(self._consumer_tag, timeout=self._call_timeout)
        except BloodbankError as exc:
            log.info("consumer not cancelled; closing its channel ends it", queue=self.queue.name, error=str(exc))

    async def _finish_handlers(self, timeout: float) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
        if pending:
            log.warning("handlers still running after the stop timeout; cancelling them", queue=self.queue.name)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _discard_queue(self) -> None:
        if not isinstance(self.queue, TemporaryQueue):
            return
        try:
            async with self._admin(f"deleting {self.queue.name!r}") as admin:
                await self.queue.delete(admin)
        except BloodbankError as exc:
            log.info("queue not deleted; it goes with the connection", queue=self.queue.name, error=str(exc))

    async def _close_channel(self) -> None:
        try:
            async with broker_call(f"closing the channel of {self.queue.name!r}", timeout=self._call_timeout):
                await self.channel.close()
        except BloodbankError as exc:
            log.info("channel not closed cleanly", queue=self.queue.name, error=str(exc))
