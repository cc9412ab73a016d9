"""The RabbitMQ topology of design.md, as data: names and arguments of every exchange and queue.

Both transports read this module, so that "the consumer queue" means the same queue,
with the same limits, whether it lives in RabbitMQ or in the embedded SQLite broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from holyfields.wildcards import TypePattern

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "MAIN_EXCHANGE",
    "RETRY_DELAYS",
    "SHARED_CONSUMERS",
    "STORE_QUEUE",
    "UNROUTED_EXCHANGE",
    "UNROUTED_QUEUE",
    "ConsumerSpec",
    "Headers",
    "matches",
]

MAIN_EXCHANGE = "bloodbank.events.v1"
UNROUTED_EXCHANGE = "bloodbank.events.unrouted"
UNROUTED_QUEUE = "unrouted.all"
DEAD_LETTER_EXCHANGE = "bloodbank.events.dlq"
DEAD_LETTER_QUEUE = "dlq.all"

RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0)
"""Seconds before each retry of a failed message; after the last, it is dead-lettered."""


class Headers:
    """Message headers Bloodbank sets (design.md)."""

    ERROR = "x-bloodbank-error"
    CONSUMER = "x-bloodbank-consumer"
    ATTEMPTS = "x-bloodbank-attempts"
    FAILED_AT = "x-bloodbank-failed-at"
    REPLAY = "x-bloodbank-replay"


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer's queue: its bindings on the main exchange and its limits."""

    name: str
    bindings: Sequence[str]
    max_length: int = 1_000_000
    delivery_limit: int = 10
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"consumer name {self.name!r} must be non-empty without spaces, e.g. 'candystore.events'")
        if not self.bindings:
            raise ValueError(f"consumer {self.name!r} needs at least one binding pattern, e.g. '#'")
        for binding in self.bindings:
            TypePattern.parse(binding)  # InvalidPattern (a ValueError) says what is wrong with it

    @property
    def dead_letter_routing_key(self) -> str:
        return f"dlq.{self.name}"

    def retry_queue(self, delay: float) -> str:
        return f"{self.name}.retry.{delay:g}s"

    def queue_arguments(self) -> dict[str, Any]:
        """Arguments of the consumer queue (quorum, at-least-once dead-lettering, explicit limits)."""
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.dead_letter_routing_key,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": self.max_length,
            "x-delivery-limit": self.delivery_limit,
        }

    def retry_queue_arguments(self, delay: float) -> dict[str, Any]:
        """A retry queue: queue-level TTL, dead-lettered at-least-once back to the consumer queue."""
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": int(delay * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": self.max_length,
        }


STORE_QUEUE = ConsumerSpec("candystore.events", ("#",))
"""Candystore's consumer queue: every event on the main exchange, kept until the store has it."""

SHARED_CONSUMERS: tuple[ConsumerSpec, ...] = (STORE_QUEUE,)
"""Consumer queues declared with the shared topology, by whoever declares it first (a gateway, a publisher,
`bloodbank topology`): an event confirmed before the store's first start waits in its queue instead of
ending in ``unrouted.all``."""


def matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more words (:class:`~holyfields.wildcards.TypePattern`).

    Raises :class:`~holyfields.wildcards.InvalidPattern` (a ``ValueError``) for a malformed ``pattern``.
    """
    return TypePattern.parse(pattern).matches(routing_key)
