"""Consuming a stored queue: the fetch loop, its deliveries, and how each delivery settles.

A consumer takes ready messages (oldest first) up to its prefetch, marks them in flight and
runs the handler once per message, each in its own task. Settling frees the prefetch slot
only once it is committed. Consumers sleep until :class:`Arrivals` says their queue got
messages; the only timer is for delayed (retried) messages coming due.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import structlog

from bloodbank.errors import BloodbankError
from bloodbank.topology import DEAD_LETTER_QUEUE
from bloodbank.transport.base import Delivery, DeliveryHandler, HeaderValue, Subscription
from bloodbank.transport.embedded.store import Store, StoredMessage
from bloodbank.transport.embedded.worker import Worker

__all__ = ["Arrivals", "QueueConsumer", "QueuePolicy", "StoredDelivery"]

log = structlog.get_logger(__name__)

FETCH_RETRY_DELAY = 1.0
"""Seconds between fetch attempts while the database fails."""


class Arrivals:
    """Wakes the consumers of a queue when messages become ready in it: no polling within one process."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Event]] = {}

    def listen(self, queue: str, event: asyncio.Event) -> None:
        self._listeners.setdefault(queue, set()).add(event)

    def ignore(self, queue: str, event: asyncio.Event) -> None:
        self._listeners.get(queue, set()).discard(event)

    def announce(self, queues: Iterable[str]) -> None:
        for queue in queues:
            for event in self._listeners.get(queue, ()):
                event.set()


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """What a consumer may do with the messages of ``queue``; ``None`` forbids retry or dead-lettering."""

    queue: str
    retry_delays: tuple[float, ...] | None = None
    dead_letter_routing_key: str | None = None


class StoredDelivery(Delivery):
    """A message in flight from a stored queue."""

    def __init__(self, consumer: QueueConsumer, message: StoredMessage) -> None:
        self.body = message.body
        self.routing_key = message.routing_key
        self.message_id = message.message_id
        self.headers = message.headers
        self.redelivered = message.delivery_count > 1
        self.id = message.id
        self.outcome: str | None = None  # set when settling starts; cleared again if settling fails
        self._consumer = consumer

    async def ack(self) -> None:
        await self._settle("ack", partial(self._consumer.store.ack, self.id), announce=())

    async def retry(self, *, delay: float, headers: Mapping[str, HeaderValue]) -> None:
        policy = self._consumer.policy
        if policy.retry_delays is None:
            raise BloodbankError(f"messages of {policy.queue!r} cannot be retried; ack or release them")
        if delay not in policy.retry_delays:
            delays = ", ".join(f"{known:g} s" for known in policy.retry_delays)
            raise BloodbankError(f"{policy.queue!r} has no retry queue for {delay:g} s; its delays are {delays}")
        retry = partial(self._consumer.store.retry, self.id, delay=delay, headers={**self.headers, **headers})
        await self._settle("retry", retry, announce=(policy.queue,))

    async def dead_letter(self, *, headers: Mapping[str, HeaderValue]) -> None:
        policy = self._consumer.policy
        if policy.dead_letter_routing_key is None:
            raise BloodbankError(f"messages of {policy.queue!r} cannot be dead-lettered; ack or release them")
        move = partial(
            self._consumer.store.dead_letter,
            self.id,
            routing_key=policy.dead_letter_routing_key,
            headers={**self.headers, **headers},
        )
        await self._settle("dead_letter", move, announce=(DEAD_LETTER_QUEUE,))

    async def release(self) -> None:
        await self._settle("release", partial(self._consumer.store.release, [self.id]), announce=())

    async def _settle(self, outcome: str, operation: Callable[[], None], *, announce: tuple[str, ...]) -> None:
        if self.outcome is not None:
            raise BloodbankError(
                f"message {self.message_id} from {self._consumer.policy.queue!r} is already settled "
                f"({self.outcome}); settle each delivery exactly once"
            )
        self.outcome = outcome
        # Shielded: a cancelled handler must not lose track of a settlement the database may still commit.
        await asyncio.shield(self._consumer.settle(self, operation, announce))


class QueueConsumer(Subscription):
    """Delivers a stored queue's messages to a handler, at most ``prefetch`` unsettled at a time."""

    def __init__(
        self,
        *,
        store: Store,
        worker: Worker,
        arrivals: Arrivals,
        policy: QueuePolicy,
        handler: DeliveryHandler,
        prefetch: int,
        poll_interval: float,
        on_stop: Callable[[QueueConsumer], None],
    ) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.store = store
        self.policy = policy
        self._worker = worker
        self._arrivals = arrivals
        self._handler = handler
        self._prefetch = prefetch
        self._poll_interval = poll_interval
        self._on_stop = on_stop
        self._unsettled: dict[int, StoredDelivery] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._settling: set[asyncio.Future[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        arrivals.listen(policy.queue, self._wake)
        self._fetcher = asyncio.create_task(self._fetch_loop(), name=f"bloodbank-embedded consume {policy.queue}")

    async def stop(self, *, timeout: float = 30.0) -> None:
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self._wake.set()
        await asyncio.wait({self._fetcher})
        handlers = self._handlers - {asyncio.current_task()}  # a handler may stop its own consumer
        if handlers:
            await asyncio.wait(handlers, timeout=timeout)
        await self._release_unsettled()
        handlers = self._handlers - {asyncio.current_task()}
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers)
        if self._settling:
            await asyncio.wait(set(self._settling))
        self._arrivals.ignore(self.policy.queue, self._wake)
        self._arrivals.announce([self.policy.queue])  # another consumer may take what was released
        self._on_stop(self)
        self._stopped.set()

    def settle(
        self, delivery: StoredDelivery, operation: Callable[[], None], announce: tuple[str, ...]
    ) -> asyncio.Future[None]:
        """Submit a delivery's settlement; the prefetch slot frees once it is committed."""
        try:
            future = self._worker.submit(operation)
        except BaseException:
            delivery.outcome = None
            raise
        self._settling.add(future)
        future.add_done_callback(partial(self._settled, delivery, announce))
        return future

    def _settled(self, delivery: StoredDelivery, announce: tuple[str, ...], future: asyncio.Future[None]) -> None:
        self._settling.discard(future)
        if future.cancelled() or future.exception() is not None:
            delivery.outcome = None  # still in flight: it may be settled again, or released by stop()
            return
        self._unsettled.pop(delivery.id, None)
        self._wake.set()
        self._arrivals.announce(announce)

    async def _fetch_loop(self) -> None:
        try:
            await self._fetch_until_stopped()
        except Exception:  # a bug: say so loudly, the messages stay safe in the store
            log.exception("consumer stopped fetching", queue=self.policy.queue)

    async def _fetch_until_stopped(self) -> None:
        queue = self.policy.queue
        while not self._stopping:
            self._wake.clear()
            room = self._prefetch - len(self._unsettled)
            wait: float | None = None  # None: until woken
            if room > 0:
                try:
                    fetched = await self._worker.submit(partial(self.store.fetch, queue, room))
                except BloodbankError:
                    log.exception("fetching failed; trying again", queue=queue, retry_in=FETCH_RETRY_DELAY)
                    wait = FETCH_RETRY_DELAY
                else:
                    if self._stopping:
                        await self._release([message.id for message in fetched.messages])
                        return
                    for message in fetched.messages:
                        self._dispatch(StoredDelivery(self, message))
                    if fetched.dead_lettered:
                        log.warning("delivery limit exceeded: dead-lettered", queue=queue, count=fetched.dead_lettered)
                        self._arrivals.announce([DEAD_LETTER_QUEUE])
                    if len(fetched.messages) + fetched.dead_lettered == room:
                        continue  # there may be more
                    if fetched.next_due is not None:
                        wait = min(max(fetched.next_due - time.time(), 0.0), self._poll_interval)
            await self._sleep(wait)

    async def _sleep(self, seconds: float | None) -> None:
        if seconds is None:
            await self._wake.wait()
            return
        alarm = asyncio.get_running_loop().call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            alarm.cancel()

    def _dispatch(self, delivery: StoredDelivery) -> None:
        self._unsettled[delivery.id] = delivery
        try:
            pending = self._handler(delivery)
        except Exception as exc:  # noqa: BLE001 - the handler's failure: logged, the message given back
            pending = _raising(exc)
        if pending is None:  # a plain function: it ran here, with no task of its own
            return
        task = asyncio.create_task(self._finish(delivery, pending))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _finish(self, delivery: StoredDelivery, pending: Awaitable[None]) -> None:
        try:
            await pending
        except Exception:
            log.exception(
                "handler failed; releasing the message", queue=self.policy.queue, message_id=delivery.message_id
            )
            if delivery.outcome is None:
                try:
                    await delivery.release()
                except BloodbankError:
                    log.exception("release failed; the message comes back after a restart")

    async def _release_unsettled(self) -> None:
        idle = [delivery for delivery in self._unsettled.values() if delivery.outcome is None]
        for delivery in idle:
            delivery.outcome = "release"
        await self._release([delivery.id for delivery in idle])
        for delivery in idle:
            del self._unsettled[delivery.id]

    async def _release(self, messages: list[int]) -> None:
        if not messages:
            return
        try:
            await self._worker.submit(partial(self.store.release, messages))
        except BloodbankError:
            log.exception("release failed; the messages come back after a restart", queue=self.policy.queue)


async def _raising(error: Exception) -> None:
    """A handler's failure, raised where the failures of coroutine handlers are handled."""
    raise error
