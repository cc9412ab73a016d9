"""The embedded transport: Bloodbank's broker inside the process, durable in one SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from bloodbank.errors import BloodbankError, BrokerUnavailable, TopologyMismatch
from bloodbank.topology import (
    DEAD_LETTER_QUEUE,
    MAIN_EXCHANGE,
    SHARED_CONSUMERS,
    UNROUTED_QUEUE,
    ConsumerSpec,
)
from bloodbank.transport.base import (
    BrokerQueues,
    ConsumerQueueState,
    DeliveryHandler,
    OutgoingMessage,
    PublishResult,
    PublishStatus,
    QueueReading,
    QueueState,
    RetryTierState,
    Subscription,
    Transport,
)
from bloodbank.transport.embedded.consumer import Arrivals, QueueConsumer, QueuePolicy
from bloodbank.transport.embedded.lock import FileLock
from bloodbank.transport.embedded.store import (
    IN_MEMORY,
    SHARED_QUEUE_ARGUMENTS,
    Published,
    QueueCounts,
    Store,
    describe_difference,
)
from bloodbank.transport.embedded.tail import Tail
from bloodbank.transport.embedded.worker import Worker

__all__ = ["EmbeddedTransport"]

log = structlog.get_logger(__name__)

LOCK_RETRY_INTERVAL = 0.05
"""Seconds between attempts to take a database another process holds, until connect()'s timeout."""


class EmbeddedTransport(Transport):
    """RabbitMQ's behaviour (topic routing, retry with delay, DLQ, unroutable catch) in one process, no broker.

    ``path`` is the SQLite file (WAL, ``synchronous=NORMAL``: it survives a killed process);
    ``":memory:"`` keeps everything in memory, for tests. ``poll_interval`` bounds how long a
    consumer waiting for a delayed (retried) message sleeps between checks; new messages
    wake consumers at once. ``shared_consumers`` are the consumer queues
    :meth:`declare_topology` declares with the shared queues (Candystore's by default);
    ``()`` leaves them to their consumers.
    """

    name = "embedded"

    def __init__(
        self,
        path: str | Path,
        *,
        poll_interval: float = 0.05,
        shared_consumers: Sequence[ConsumerSpec] = SHARED_CONSUMERS,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        self.shared_consumers = tuple(shared_consumers)
        self._location = IN_MEMORY if str(path) == IN_MEMORY else str(Path(path))
        self._poll_interval = poll_interval
        self._lock = None if self._location == IN_MEMORY else FileLock(Path(f"{self._location}.lock"))
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._arrivals = Arrivals()
        self._consumers: set[QueueConsumer] = set()
        self._tails: set[Tail] = set()

    def __repr__(self) -> str:
        return f"EmbeddedTransport({self._location!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        return self._worker is not None and self._worker.alive

    async def connect(self, *, timeout: float = 10.0) -> None:
        """Open the database, waiting up to ``timeout`` for another process to let go of it."""
        if self._worker is not None:
            return
        if self._lock is not None:
            await self._take_lock(self._lock, timeout)
        try:
            store, recovered = await asyncio.to_thread(Store.open, self._location)
        except (sqlite3.Error, OSError) as exc:
            self._release_lock()
            raise BrokerUnavailable(f"cannot open the embedded broker's database {self._location}: {exc}") from exc
        except BaseException:
            self._release_lock()
            raise
        self._store = store
        self._worker = Worker(store.connection, location=self._location, on_rollback=store.forget_topology)
        log.info("embedded broker connected", location=self._location, redelivering=recovered)

    async def close(self) -> None:
        """Stop every subscription at once (its unsettled messages are released), then close the database.

        For a graceful shutdown, stop the subscriptions with a timeout first.
        """
        worker = self._worker
        if worker is None:
            return
        self._worker = None  # no new work; subscriptions still finish on the worker they hold
        for subscription in [*self._consumers, *self._tails]:
            await subscription.stop(timeout=0)
        await worker.stop()
        self._store = None
        self._release_lock()
        log.info("embedded broker closed", location=self._location)

    async def declare_topology(self, *, verify_only: bool = False) -> None:
        store, worker = self._open()
        await worker.submit(partial(_declare_shared_queues, store, self.shared_consumers, verify_only=verify_only))

    async def declare_consumer(self, spec: ConsumerSpec, *, verify_only: bool = False) -> None:
        store, worker = self._open()
        await worker.submit(partial(_declare_consumer, store, spec, verify_only=verify_only))

    async def publish_each(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        try:
            store, worker = self._open()
            if not messages:
                return []
            committed = worker.submit(partial(store.publish, messages))
            # Consumers and tails hear of the messages once committed, even if this caller gave up waiting.
            committed.add_done_callback(partial(self._announce, messages))
            published = await asyncio.wait_for(asyncio.shield(committed), timeout)
        except TimeoutError:
            reason = f"the embedded broker {self._location} did not commit {len(messages)} messages within {timeout} s"
        except BrokerUnavailable as exc:  # closed, or the transaction failed: nothing was committed
            reason = str(exc)
        else:
            return published.results
        return [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, reason) for m in messages]

    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        arguments = await self._existing_queue_arguments(spec.name)
        declared = spec.queue_arguments()
        if arguments != declared:
            raise TopologyMismatch(spec.name, describe_difference(arguments, declared))
        policy = QueuePolicy(spec.name, spec.retry_delays, spec.dead_letter_routing_key)
        return self._start_consumer(policy, handler, prefetch)

    async def consume_queue(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        await self._existing_queue_arguments(queue)
        return self._start_consumer(QueuePolicy(queue), handler, prefetch)

    async def tail(self, patterns: Sequence[str], handler: DeliveryHandler) -> Subscription:
        self._open()
        tail = Tail(patterns, handler, on_stop=self._tails.discard)
        self._tails.add(tail)
        return tail

    async def queue_depth(self, queue: str) -> int:
        store, worker = self._open()
        return await worker.submit(partial(store.ready_count, queue))

    async def queue_state(self, queue: str) -> QueueState:
        store, worker = self._open()
        ready, unacked = await worker.submit(partial(store.message_counts, queue))
        return QueueState(ready=ready, unacked=unacked, consumers=self._attached(queue))

    async def describe_queues(self, consumers: Sequence[ConsumerSpec]) -> BrokerQueues:
        """Every consumer queue of the database, ``consumers`` or not, read in one transaction.

        A retry tier is not a queue here: a retried message waits in its consumer queue until
        its delay has passed, and is counted in the tier of the attempts it carries, not as
        ready. The tiers of a queue not among ``consumers`` are taken to be the default ones.
        """
        store, worker = self._open()
        known = {spec.name: spec for spec in consumers}
        counts = await worker.submit(partial(_read_queues, store))
        found = [
            self._consumer_state(known.get(name) or ConsumerSpec(name, ("#",)), queue)
            for name, queue in sorted(counts.items())
            if name not in (DEAD_LETTER_QUEUE, UNROUTED_QUEUE)
        ]
        return BrokerQueues(
            reading=QueueReading.EMBEDDED,
            consumers=tuple(found),
            dead_letters=self._shared_state(DEAD_LETTER_QUEUE, counts),
            unrouted=self._shared_state(UNROUTED_QUEUE, counts),
        )

    def _consumer_state(self, spec: ConsumerSpec, counts: QueueCounts) -> ConsumerQueueState:
        tiers = tuple(
            RetryTierState(delay, spec.retry_queue(delay), counts.waiting.get(attempt, 0))
            for attempt, delay in enumerate(spec.retry_delays, start=1)
        )
        return ConsumerQueueState(
            spec.name, counts.ready, counts.in_flight, self._attached(spec.name), retry_tiers=tiers
        )

    def _shared_state(self, queue: str, counts: dict[str, QueueCounts]) -> QueueState | None:
        found = counts.get(queue)
        if found is None:
            return None
        return QueueState(ready=found.ready, unacked=found.in_flight, consumers=self._attached(queue))

    def _attached(self, queue: str) -> int:
        # One process owns the embedded broker: its consumers are all there are.
        return sum(1 for consumer in self._consumers if consumer.policy.queue == queue)

    # --- helpers -------------------------------------------------------------------------

    def _announce(self, messages: Sequence[OutgoingMessage], committed: asyncio.Future[Published]) -> None:
        if committed.cancelled() or committed.exception() is not None:
            return
        self._arrivals.announce(committed.result().queues)
        if self._tails:
            for message in messages:
                if message.exchange in (None, MAIN_EXCHANGE):
                    for tail in self._tails:
                        tail.offer(message)

    def _open(self) -> tuple[Store, Worker]:
        if self._store is None or self._worker is None or not self._worker.alive:
            raise BrokerUnavailable(f"the embedded broker {self._location} is not connected; call connect() first")
        return self._store, self._worker

    async def _existing_queue_arguments(self, queue: str) -> dict[str, Any]:
        store, worker = self._open()
        arguments = await worker.submit(partial(store.queue_arguments, queue))
        if arguments is None:
            raise BloodbankError(f"queue {queue!r} does not exist; declare it first (`bloodbank topology`)")
        return arguments

    def _start_consumer(self, policy: QueuePolicy, handler: DeliveryHandler, prefetch: int) -> QueueConsumer:
        store, worker = self._open()
        consumer = QueueConsumer(
            store=store,
            worker=worker,
            arrivals=self._arrivals,
            policy=policy,
            handler=handler,
            prefetch=prefetch,
            poll_interval=self._poll_interval,
            on_stop=self._consumers.discard,
        )
        self._consumers.add(consumer)
        return consumer

    async def _take_lock(self, lock: FileLock, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            lock.path.parent.mkdir(parents=True, exist_ok=True)
            while not lock.try_acquire():
                if time.monotonic() >= deadline:
                    raise BrokerUnavailable(
                        f"the embedded broker {self._location} is in use by {lock.holder()} (it holds {lock.path}). "
                        "The embedded broker serves one process at a time: stop that process, give this one "
                        "another database file (BLOODBANK_DATA_DIR) or point BLOODBANK_BROKER_URL at RabbitMQ"
                    )
                await asyncio.sleep(LOCK_RETRY_INTERVAL)
        except OSError as exc:
            raise BrokerUnavailable(f"cannot lock the embedded broker's database {self._location}: {exc}") from exc

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()


def _read_queues(store: Store) -> dict[str, QueueCounts]:
    """The counts of every consumer queue, ``dlq.all`` and ``unrouted.all`` that exist."""
    shared = [queue for queue in (DEAD_LETTER_QUEUE, UNROUTED_QUEUE) if store.queue_arguments(queue) is not None]
    names = [*store.consumer_queues(), *shared]
    return {name: store.waiting_counts(name) for name in names}


def _declare_shared_queues(store: Store, consumers: Sequence[ConsumerSpec], *, verify_only: bool) -> None:
    for queue in (UNROUTED_QUEUE, DEAD_LETTER_QUEUE):
        store.declare_queue(queue, SHARED_QUEUE_ARGUMENTS, verify_only=verify_only)
    for spec in consumers:
        _declare_consumer(store, spec, verify_only=verify_only)


def _declare_consumer(store: Store, spec: ConsumerSpec, *, verify_only: bool) -> None:
    store.declare_queue(spec.name, spec.queue_arguments(), verify_only=verify_only)
    store.declare_bindings(spec.name, spec.bindings, verify_only=verify_only)
