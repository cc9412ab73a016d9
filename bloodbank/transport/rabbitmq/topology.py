"""Declaring (or checking) the exchanges and queues of :mod:`bloodbank.topology` on RabbitMQ.

A declaration that meets an existing object with other arguments makes RabbitMQ close
the channel with PRECONDITION_FAILED; a passive declaration of a missing object closes
it with NOT_FOUND. Both become :class:`~bloodbank.errors.TopologyMismatch` quoting the
broker. The caller declares on a channel of its own, so the closed channel harms nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, ExchangeType

from bloodbank.errors import TopologyMismatch
from bloodbank.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    MAIN_EXCHANGE,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
    ConsumerSpec,
)
from bloodbank.transport.rabbitmq.errors import broker_text

__all__ = [
    "SHARED_EXCHANGES",
    "SHARED_QUEUES",
    "ExchangeDeclaration",
    "QueueDeclaration",
    "consumer_queues",
    "declare",
    "mismatch_as",
    "passive_declare",
]

QUORUM: Mapping[str, Any] = {"x-queue-type": "quorum"}


@dataclass(frozen=True, slots=True)
class ExchangeDeclaration:
    """A durable exchange and its arguments."""

    name: str
    kind: ExchangeType
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueDeclaration:
    """A durable queue, its arguments and its ``(exchange, binding key)`` bindings."""

    name: str
    arguments: Mapping[str, Any]
    bindings: tuple[tuple[str, str], ...] = ()


SHARED_EXCHANGES = (
    ExchangeDeclaration(UNROUTED_EXCHANGE, ExchangeType.FANOUT),
    ExchangeDeclaration(MAIN_EXCHANGE, ExchangeType.TOPIC, {"alternate-exchange": UNROUTED_EXCHANGE}),
    ExchangeDeclaration(DEAD_LETTER_EXCHANGE, ExchangeType.TOPIC),
)
SHARED_QUEUES = (
    QueueDeclaration(UNROUTED_QUEUE, QUORUM, ((UNROUTED_EXCHANGE, ""),)),
    QueueDeclaration(DEAD_LETTER_QUEUE, QUORUM, ((DEAD_LETTER_EXCHANGE, "#"),)),
)


def consumer_queues(spec: ConsumerSpec) -> tuple[QueueDeclaration, ...]:
    """The consumer queue bound to the main exchange, then its retry queues (reached by the default exchange)."""
    bindings = tuple((MAIN_EXCHANGE, pattern) for pattern in spec.bindings)
    retries = tuple(QueueDeclaration(spec.retry_queue(d), spec.retry_queue_arguments(d)) for d in spec.retry_delays)
    return (QueueDeclaration(spec.name, spec.queue_arguments(), bindings), *retries)


async def declare(
    channel: AbstractChannel,
    *,
    exchanges: Sequence[ExchangeDeclaration] = (),
    queues: Sequence[QueueDeclaration] = (),
    verify_only: bool,
) -> None:
    """Declare every object idempotently, or with ``verify_only`` check each one without creating anything.

    Verifying first declares passively (the object must exist), then declares it again with
    the expected arguments: for an existing object that is a no-op when they agree and a
    PRECONDITION_FAILED naming the difference when they do not. AMQP cannot list bindings,
    so bindings are declared, not verified.
    """
    for exchange in exchanges:
        with mismatch_as(exchange.name):
            if verify_only:
                await channel.declare_exchange(exchange.name, exchange.kind, durable=True, passive=True)
            await channel.declare_exchange(
                exchange.name, exchange.kind, durable=True, arguments=dict(exchange.arguments)
            )
    for queue in queues:
        with mismatch_as(queue.name):
            if verify_only:
                await passive_queue(channel, queue.name)
            declared = await channel.declare_queue(queue.name, durable=True, arguments=dict(queue.arguments))
        if verify_only:
            continue
        for exchange_name, binding_key in queue.bindings:
            with mismatch_as(exchange_name):  # a bind fails only when the exchange is missing
                await declared.bind(exchange_name, binding_key)


async def passive_declare(channel: AbstractChannel, queue: str) -> aiormq.spec.Queue.DeclareOk:
    """The broker's view of an existing ``queue`` (message and consumer counts); TopologyMismatch if missing."""
    with mismatch_as(queue):
        return await passive_queue(channel, queue)


async def passive_queue(channel: AbstractChannel, queue: str) -> aiormq.spec.Queue.DeclareOk:
    return await aio_pika.Queue(
        channel, queue, durable=False, exclusive=False, auto_delete=False, arguments=None, passive=True
    ).declare()


@contextmanager
def mismatch_as(name: str) -> Iterator[None]:
    """Turn the broker closing the channel over ``name`` (406, 404) into TopologyMismatch quoting it."""
    try:
        yield
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise TopologyMismatch(name, broker_text(exc)) from exc
    except aiormq.exceptions.ChannelNotFoundEntity as exc:
        raise TopologyMismatch(name, f"it does not exist ({broker_text(exc)})") from exc
