"""The transport port: what Bloodbank needs from a message broker, and nothing more.

Two adapters implement it and pass one conformance suite (``tests/bloodbank/test_conformance.py``):
:mod:`bloodbank.transport.rabbitmq` (aio-pika, the production engine) and
:mod:`bloodbank.transport.embedded` (SQLite, one process, no broker).

Semantics every adapter guarantees:

* **Topology.** :meth:`Transport.declare_topology` declares the main topic exchange,
  the unroutable catch, the dead-letter exchange and queue of design.md and the
  queues of the shared consumers (:data:`~bloodbank.topology.SHARED_CONSUMERS`:
  Candystore's ``candystore.events``), idempotently; :meth:`Transport.declare_consumer`
  declares a consumer's queue, its retry queues and its bindings. Either raises
  :class:`~bloodbank.errors.TopologyMismatch` when an existing object differs.
* **Publishing.** :meth:`Transport.publish_each` publishes persistent messages and
  answers each with a :class:`PublishResult` once the broker answered it (publisher
  confirms) or ``timeout`` passed: ``confirmed`` (durable; a message no binding
  matches is kept in ``unrouted.all`` and reported with ``routed=False`` when the
  adapter can tell, ``None`` when it cannot), ``nacked`` (refused: a full queue, a
  missing exchange), ``returned`` (no queue took it) or ``unconfirmed`` (no answer: the
  broker is unreachable or the connection was lost; it may or may not be durable). It
  never raises for what the broker answers, or does not. :meth:`Transport.publish_batch`
  is the same with the first failure raised: :class:`~bloodbank.errors.BrokerUnavailable`
  for an unconfirmed message (it outranks a refusal), else
  :class:`~bloodbank.errors.PublishFailed`. While the broker blocks publishing
  (RabbitMQ's memory or disk alarm), :attr:`Transport.blocked` is true and a publish
  waits, up to its timeout.
* **Consuming.** Each message is delivered at least once, also across a process
  restart, to the handler given to :meth:`Transport.consume`, with at most
  ``prefetch`` unsettled at a time. The handler settles each delivery exactly once:
  ``ack`` (done), ``retry`` (durably moved to the retry queue of that delay, then
  acknowledged), ``dead_letter`` (durably moved to ``dlq.all``, then acknowledged) or
  ``release`` (given back unacknowledged, for shutdown). A delivery the handler does
  not settle stays unacknowledged and comes back after a reconnect or restart.
* **Reading the queues.** :meth:`Transport.queue_state` reads one queue;
  :meth:`Transport.describe_queues` describes the consumer queues with their retry tiers,
  ``dlq.all`` and ``unrouted.all`` (:class:`BrokerQueues`). By default it is built on
  ``queue_state`` for the consumers it is given; an adapter that can list its queues adds
  every other consumer queue it finds, and one that knows rates fills them in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bloodbank.errors import BloodbankError, BrokerUnavailable, PublishFailed
from bloodbank.topology import DEAD_LETTER_QUEUE, UNROUTED_QUEUE, ConsumerSpec

__all__ = [
    "BrokerQueues",
    "ConsumerQueueState",
    "Delivery",
    "DeliveryHandler",
    "OutgoingMessage",
    "PublishResult",
    "PublishStatus",
    "QueueReading",
    "QueueState",
    "RetryTierState",
    "Subscription",
    "Transport",
]

HeaderValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """An encoded event on its way to the main exchange (or, for replays, another exchange)."""

    body: bytes
    routing_key: str
    message_id: str
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    exchange: str | None = None  # None: the main exchange


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the broker says of one queue: messages ready, delivered but unsettled, and consumers attached."""

    ready: int
    unacked: int | None  # None: the broker does not tell (RabbitMQ answers it only through its management API)
    consumers: int


@dataclass(frozen=True, slots=True)
class RetryTierState:
    """One retry tier of a consumer: its delay, the queue its messages wait in, and how many wait there."""

    delay: float
    queue: str
    messages: int | None  # None: the tier's queue does not exist (yet) or cannot be read


@dataclass(frozen=True, slots=True)
class ConsumerQueueState:
    """A consumer's queue as the broker sees it, with its retry tiers; rates in messages per second."""

    name: str
    ready: int
    unacked: int | None  # None: the broker does not tell (RabbitMQ without its management API)
    consumers: int
    retry_tiers: tuple[RetryTierState, ...]
    publish_rate: float | None = None  # None: the broker does not tell (only RabbitMQ's management API does)
    deliver_rate: float | None = None
    ack_rate: float | None = None


class QueueReading(StrEnum):
    """Where the figures of a :class:`BrokerQueues` come from."""

    MANAGEMENT = "management"
    """RabbitMQ's management HTTP API: every queue of the virtual host, unacknowledged counts and rates."""
    PASSIVE = "passive"
    """Passive declarations of the queues asked for: ready messages and consumers, no rates."""
    EMBEDDED = "embedded"
    """The embedded broker's database: every queue, unacknowledged counts, no rates."""


@dataclass(frozen=True, slots=True)
class BrokerQueues:
    """The consumer queues (by name), ``dlq.all`` and ``unrouted.all``; a queue that does not exist is left out."""

    reading: QueueReading
    consumers: tuple[ConsumerQueueState, ...]
    dead_letters: QueueState | None
    unrouted: QueueState | None
    problem: str | None = None
    """Why the figures are fewer than they could be (the management API did not answer), else None."""


class PublishStatus(StrEnum):
    """What became of one event handed over for publishing."""

    CONFIRMED = "confirmed"
    """The broker confirmed it: it is durable."""
    INVALID = "invalid"
    """Refused by the publisher before it reached the broker (its issues say why); a transport never answers it."""
    NACKED = "nacked"
    """The broker refused it (``basic.nack``: a full queue; or a missing exchange): not durable."""
    RETURNED = "returned"
    """The broker returned it unroutable (``basic.return``): no queue took it, not durable."""
    UNCONFIRMED = "unconfirmed"
    """No answer in time (the broker is unreachable, the connection was lost): perhaps durable, perhaps not."""


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The broker's answer to one publish: its status, whether a queue took it, and why it failed."""

    message_id: str
    routed: bool | None = None
    status: PublishStatus = PublishStatus.CONFIRMED
    reason: str | None = None

    @classmethod
    def failed(cls, message_id: str, status: PublishStatus, reason: str) -> PublishResult:
        return cls(message_id, routed=None, status=status, reason=reason)

    def failure(self) -> BloodbankError | None:
        """The error that says why the message was not confirmed; ``None`` when it was."""
        if self.status is PublishStatus.CONFIRMED:
            return None
        reason = self.reason or self.status.value
        if self.status is PublishStatus.UNCONFIRMED:
            return BrokerUnavailable(reason)
        return PublishFailed(self.message_id, reason)


class Delivery(ABC):
    """One received message; settle it exactly once."""

    body: bytes
    routing_key: str
    message_id: str | None
    headers: Mapping[str, Any]
    redelivered: bool

    @abstractmethod
    async def ack(self) -> None:
        """The message is handled: remove it."""

    @abstractmethod
    async def retry(self, *, delay: float, headers: Mapping[str, HeaderValue]) -> None:
        """Move the message durably to the consumer's retry queue of ``delay`` with ``headers`` added, then ack it."""

    @abstractmethod
    async def dead_letter(self, *, headers: Mapping[str, HeaderValue]) -> None:
        """Move the message durably to the dead-letter queue with ``headers`` added, then ack it."""

    @abstractmethod
    async def release(self) -> None:
        """Give the message back unacknowledged so that it is delivered again (shutdown, dependency outage)."""


DeliveryHandler = Callable[[Delivery], Awaitable[None] | None]
"""Called once per delivery. A coroutine runs in a task of its own, which stopping waits for. A plain
function (returning ``None``) runs in the task that received the delivery, without a task of its own:
it must not block, and it settles the delivery later, from a task it owns. Either way, a handler that
raises has its delivery released, unless it settled it already."""


class Subscription(ABC):
    """A running consumer."""

    @abstractmethod
    async def stop(self, *, timeout: float = 30.0) -> None:
        """Stop taking messages, let the handlers in progress finish (up to ``timeout``), then return."""


class Transport(ABC):
    """A message broker as Bloodbank uses it."""

    name: str

    @abstractmethod
    async def connect(self, *, timeout: float = 10.0) -> None:
        """Open the connection; raise :class:`~bloodbank.errors.BrokerUnavailable` when the broker cannot be reached."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection; subscriptions stop."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the broker is reachable right now."""

    @property
    def blocked(self) -> bool:
        """Whether the broker blocks this connection's publishing right now (a resource alarm); never on one without."""
        return False

    @abstractmethod
    async def declare_topology(self, *, verify_only: bool = False) -> None:
        """Declare (or, with ``verify_only``, check) the shared exchanges and queues, the shared consumers included."""

    @abstractmethod
    async def declare_consumer(self, spec: ConsumerSpec, *, verify_only: bool = False) -> None:
        """Declare (or check) a consumer's queue, retry queues and bindings."""

    @abstractmethod
    async def publish_each(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        """Publish every message and answer each, in order, once confirmed or refused, or after ``timeout`` seconds."""

    async def publish_batch(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        """Publish every message and wait for all confirms; raise the first failure (an unconfirmed one first)."""
        results = await self.publish_each(messages, timeout=timeout)
        failures = [failure for result in results if (failure := result.failure()) is not None]
        if failures:
            raise next((f for f in failures if isinstance(f, BrokerUnavailable)), failures[0])
        return results

    @abstractmethod
    async def consume(self, spec: ConsumerSpec, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        """Deliver the consumer queue's messages to ``handler`` until the subscription stops."""

    @abstractmethod
    async def consume_queue(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Subscription:
        """Deliver the messages of an existing queue (``dlq.all``, ``unrouted.all``); no retry or dead_letter there."""

    @abstractmethod
    async def tail(self, patterns: Sequence[str], handler: DeliveryHandler) -> Subscription:
        """Deliver copies of new events matching ``patterns`` through a temporary queue removed on stop."""

    @abstractmethod
    async def queue_depth(self, queue: str) -> int:
        """How many messages wait in ``queue`` (ready ones, not those delivered and unsettled)."""

    @abstractmethod
    async def queue_state(self, queue: str) -> QueueState:
        """The depth and consumers of an existing ``queue``; a BloodbankError when it does not exist."""

    async def describe_queues(self, consumers: Sequence[ConsumerSpec]) -> BrokerQueues:
        """The queues of ``consumers`` that exist, their retry tiers, ``dlq.all`` and ``unrouted.all``.

        Read queue by queue through :meth:`queue_state` (what the ``bloodbank_queue_messages``
        gauges read); raises :class:`~bloodbank.errors.BrokerUnavailable` when the broker is away.
        """
        return await self.passive_description(consumers)

    async def passive_description(
        self, consumers: Sequence[ConsumerSpec], *, problem: str | None = None
    ) -> BrokerQueues:
        """:meth:`describe_queues` read through :meth:`queue_state` alone, without rates."""
        found: list[ConsumerQueueState] = []
        for spec in sorted(consumers, key=lambda spec: spec.name):
            state = await self._state_or_none(spec.name)
            if state is None:
                continue
            tiers = []
            for delay in spec.retry_delays:
                tier = await self._state_or_none(spec.retry_queue(delay))
                tiers.append(RetryTierState(delay, spec.retry_queue(delay), None if tier is None else tier.ready))
            found.append(ConsumerQueueState(spec.name, state.ready, state.unacked, state.consumers, tuple(tiers)))
        return BrokerQueues(
            reading=QueueReading.PASSIVE,
            consumers=tuple(found),
            dead_letters=await self._state_or_none(DEAD_LETTER_QUEUE),
            unrouted=await self._state_or_none(UNROUTED_QUEUE),
            problem=problem,
        )

    async def _state_or_none(self, queue: str) -> QueueState | None:
        """The queue's state, or None when it does not exist; BrokerUnavailable propagates."""
        try:
            return await self.queue_state(queue)
        except BrokerUnavailable:
            raise
        except BloodbankError:
            return None
