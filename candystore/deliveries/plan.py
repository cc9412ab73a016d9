"""How one subscription is delivered: its fields with the defaults filled in and its retry tiers spread.

Why the tiers are spread per subscription and not per message: a retried message waits in a
retry queue whose TTL is the queue's (design.md: never a per-message TTL, because a quorum
queue expires messages only at its head), and the embedded broker keeps the same delays. So
every message of a tier waits exactly that tier. What the spread gives is that subscriptions
that fail together (one receiver down behind several of them) come back at different times:
each tier of each subscription is moved by a fixed share within ``±jitter`` drawn from its
name, so its queue names stay the same from one start to the next. Within one subscription,
retried messages come back spaced as they failed, and its concurrency limit caps how hard
they hit the receiver.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bloodbank import ConsumerSpec
from candystore.deliveries.subscription import Subscription
from candystore.settings import CandystoreSettings

__all__ = ["DeliveryDefaults", "DeliveryPlan", "spread"]

_SIGNIFICANT = ".3g"
"""Spread delays keep three significant digits: ``{delay:g}`` names the retry queue, so it must say one value."""


def spread(name: str, delays: Sequence[float], jitter: float) -> tuple[float, ...]:
    """``delays`` each moved by a share within ``±jitter`` that depends only on ``name`` and the tier.

    Each comes back as its retry queue's name says it (``{delay:g}``): two delays that name one
    queue must be one delay, or the queue would be declared with two TTLs.
    """
    if jitter == 0:
        return tuple(float(format(delay, "g")) for delay in delays)
    spread_delays = []
    for tier, delay in enumerate(delays):
        digest = hashlib.sha256(f"{name}:{tier}".encode()).digest()
        share = int.from_bytes(digest[:8], "big") / 2**64  # in [0, 1), the same on every start
        spread_delays.append(float(format(delay * (1 + jitter * (2 * share - 1)), _SIGNIFICANT)))
    return tuple(spread_delays)


@dataclass(frozen=True, slots=True)
class DeliveryDefaults:
    """What applies to a subscription that does not say otherwise (from :class:`CandystoreSettings`)."""

    retry_delays: tuple[float, ...]
    concurrency: int
    timeout: float
    jitter: float

    @classmethod
    def of(cls, settings: CandystoreSettings) -> DeliveryDefaults:
        return cls(
            retry_delays=tuple(settings.delivery_retry_delays),
            concurrency=settings.delivery_concurrency,
            timeout=settings.delivery_timeout,
            jitter=settings.delivery_jitter,
        )


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """Everything a running consumer of one subscription depends on: a change to any of it restarts it."""

    subscription: Subscription = field(compare=False)
    name: str
    patterns: tuple[str, ...]
    filters: tuple[str, ...]
    url: str
    secret: str = field(repr=False)
    retry_delays: tuple[float, ...]
    """The tiers as waited, spread."""
    concurrency: int
    timeout: float

    @classmethod
    def of(cls, subscription: Subscription, defaults: DeliveryDefaults) -> DeliveryPlan:
        delays = subscription.retry_delays or defaults.retry_delays
        return cls(
            subscription=subscription,
            name=subscription.name,
            patterns=subscription.patterns,
            filters=subscription.filters,
            url=subscription.url,
            secret=subscription.secret,
            retry_delays=spread(subscription.name, delays, defaults.jitter),
            concurrency=subscription.concurrency or defaults.concurrency,
            timeout=subscription.timeout or defaults.timeout,
        )

    @property
    def spec(self) -> ConsumerSpec:
        """Its consumer queue: bound to its patterns, retried through its tiers, dead-lettered to ``dlq.all``."""
        return ConsumerSpec(self.subscription.consumer, self.patterns, retry_delays=self.retry_delays)

    @property
    def attempts(self) -> int:
        """Requests made at most for one event: the first and one per tier."""
        return len(self.retry_delays) + 1
