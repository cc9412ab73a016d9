"""``GET /consumers``: every consumer queue as the broker sees it, with its retry tiers and its open dead letters.

The queues are read from the broker through the transport port
(:meth:`bloodbank.transport.Transport.describe_queues`): RabbitMQ's management API when
``BLOODBANK_MANAGEMENT_URL`` is set and answers (every consumer queue of the virtual host,
unacknowledged counts, rates), passive declarations otherwise (the known consumers' queues,
ready messages and consumers, no rates), or the embedded broker's database. The known
consumers are Candystore's own queue, the delivery subscriptions' and the watched ones
(``BLOODBANK_WATCH_CONSUMERS``). Dead letters come from Candystore's own table: the open
ones of each consumer, by reason (the error up to its first colon).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from bloodbank.topology import DEAD_LETTER_QUEUE, UNROUTED_QUEUE, ConsumerSpec
from bloodbank.transport import ConsumerQueueState, QueueReading, QueueState, Transport
from candystore.api.errors import error_responses
from candystore.api.params import only_query
from candystore.store import EventStore
from candystore.store.dead_letter_reasons import DeadLetterReason
from gumdrop.access_control import requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Scope

__all__ = ["ConsumersModel", "consumer_routes"]

KnownConsumers = Callable[[], Awaitable[Sequence[ConsumerSpec]]]
"""The consumers this Candystore knows of, with their retry tiers: asked again at every request."""


class ReasonCountModel(BaseModel):
    """Open dead letters of one reason."""

    reason: str = Field(description="the error up to its first colon: its type or kind (`RuntimeError`, `unrouted`)")
    count: int = Field(ge=1, description="open dead letters with this reason")


class ConsumerReasonCountModel(ReasonCountModel):
    """Open dead letters of one consumer and one reason."""

    consumer: str | None = Field(description="the consumer that gave up on them (`x-bloodbank-consumer`), if known")


class RetryTierModel(BaseModel):
    """One retry tier of a consumer: failed messages waiting out its delay before they are tried again."""

    delay_seconds: float = Field(description="how long a message waits in this tier")
    queue: str = Field(description="the tier's queue (on the embedded broker, the name the tier would have)")
    messages: int | None = Field(description="messages waiting in it; null when its queue does not exist")


class QueueModel(BaseModel):
    """A queue's depth and the consumers attached to it."""

    name: str
    ready: int = Field(description="messages waiting to be delivered")
    unacked: int | None = Field(
        description="messages delivered and not yet acknowledged; null when the broker does not tell (RabbitMQ "
        "without its management API)"
    )
    consumers: int = Field(description="consumers attached to the queue")

    @classmethod
    def of(cls, name: str, state: QueueState) -> QueueModel:
        return cls(name=name, ready=state.ready, unacked=state.unacked, consumers=state.consumers)


class ConsumerQueueModel(QueueModel):
    """A consumer's queue: depth, rates, retry tiers and open dead letters by reason."""

    publish_rate: float | None = Field(
        description="messages per second entering the queue; null unless read from RabbitMQ's management API"
    )
    deliver_rate: float | None = Field(
        description="messages per second delivered to its consumers; null unless read from the management API"
    )
    ack_rate: float | None = Field(
        description="messages per second acknowledged by its consumers; null unless read from the management API"
    )
    retry_tiers: list[RetryTierModel] = Field(description="shortest delay first")
    dead_letters: list[ReasonCountModel] = Field(
        description="the consumer's open dead letters (kept by Candystore) by reason, most first"
    )
    dead_letters_open: int = Field(description="the consumer's open dead letters in all")

    @classmethod
    def of_state(cls, state: ConsumerQueueState, reasons: Sequence[DeadLetterReason]) -> ConsumerQueueModel:
        return cls(
            name=state.name,
            ready=state.ready,
            unacked=state.unacked,
            consumers=state.consumers,
            publish_rate=state.publish_rate,
            deliver_rate=state.deliver_rate,
            ack_rate=state.ack_rate,
            retry_tiers=[
                RetryTierModel(delay_seconds=tier.delay, queue=tier.queue, messages=tier.messages)
                for tier in state.retry_tiers
            ],
            dead_letters=[ReasonCountModel(reason=item.reason, count=item.count) for item in reasons],
            dead_letters_open=sum(item.count for item in reasons),
        )


class ConsumersModel(BaseModel):
    """The consumer queues, ``dlq.all`` and ``unrouted.all`` as the broker sees them now."""

    reading: QueueReading = Field(
        description="where the queue figures come from: `management` (RabbitMQ's management API: every consumer "
        "queue, unacknowledged counts and rates), `passive` (AMQP passive declarations of the known consumers' "
        "queues: ready messages and consumers only) or `embedded` (the embedded broker: every queue, no rates)"
    )
    problem: str | None = Field(
        description="why the figures are fewer than configured (the management API did not answer), else null"
    )
    consumers: list[ConsumerQueueModel] = Field(description="by name; a queue that does not exist is left out")
    unrouted: QueueModel | None = Field(
        description="`unrouted.all`: events no queue was bound to (Candystore drains it into the dead letters); "
        "null when it does not exist"
    )
    dead_letter_queue: QueueModel | None = Field(
        description="`dlq.all`, which Candystore drains into its database; null when it does not exist"
    )
    other_dead_letters: list[ConsumerReasonCountModel] = Field(
        description="open dead letters of consumers without a queue above (unrouted events among them, as "
        "consumer `unrouted.all`), by consumer and reason"
    )


def consumer_routes(store: EventStore, transport: Transport | None, known: KnownConsumers) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/consumers",
        response_model=ConsumersModel,
        summary="Every consumer queue: depth, unacknowledged, consumers, rates, retry tiers, dead letters",
        operation_id="listConsumers",
        responses=error_responses(503),
        dependencies=[requires(Scope.READ), Depends(only_query())],
    )
    async def list_consumers() -> ConsumersModel:
        if transport is None:
            raise ApiError.unavailable("the queues are unavailable: this Candystore is not connected to the bus")
        queues = await transport.describe_queues(await known())
        by_consumer: dict[str | None, list[DeadLetterReason]] = defaultdict(list)
        for item in await store.open_dead_letter_reasons():
            by_consumer[item.consumer].append(item)
        listed = {state.name for state in queues.consumers}
        return ConsumersModel(
            reading=queues.reading,
            problem=queues.problem,
            consumers=[ConsumerQueueModel.of_state(state, by_consumer[state.name]) for state in queues.consumers],
            unrouted=None if queues.unrouted is None else QueueModel.of(UNROUTED_QUEUE, queues.unrouted),
            dead_letter_queue=None
            if queues.dead_letters is None
            else QueueModel.of(DEAD_LETTER_QUEUE, queues.dead_letters),
            other_dead_letters=[
                ConsumerReasonCountModel(consumer=item.consumer, reason=item.reason, count=item.count)
                for items in by_consumer.values()
                for item in items
                if item.consumer not in listed
            ],
        )

    return router
