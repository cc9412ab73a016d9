"""What Candystore's ``/health/ready`` checks beyond the database and the broker's connection.

A replica whose deliveries do not move must leave the load balancer's rotation and say
why, even though its database answers a ping. Not ready while:

* a batcher (the ingestor's, the dead-letter keeper's) has held a delivery longer than
  ``CANDYSTORE_READY_MAX_HELD_SECONDS``: its writes fail (the database refuses them), or
  a write has been running that long (a writer is stuck);
* the broker blocks publishing (a memory or disk alarm): dead letters and retries, which
  are publishes, cannot move, and neither can replays.

The age of the oldest delivery the ingestor holds is the gauge
``candystore_ingest_oldest_held_seconds`` (0 when it holds none), so that an alert fires
on the same condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from bloodbank.transport import Transport
from candystore.batching import Batcher

__all__ = ["Readiness"]


class Readiness:
    """Reads the batchers and the transport on demand; :meth:`problems` is what ``/health/ready`` reports."""

    def __init__(
        self,
        *,
        ingestion: Batcher[Any, Any],
        others: Sequence[Batcher[Any, Any]] = (),
        transport: Transport,
        max_held_seconds: float,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.ingestion = ingestion
        self.batchers = (ingestion, *others)
        self.transport = transport
        self.max_held_seconds = max_held_seconds
        self._clock: Callable[[], float] | None = None  # the batchers' clock: the loop's, known once started
        self.oldest_held = Gauge(
            "candystore_ingest_oldest_held_seconds",
            "Age of the oldest delivery the ingestor holds and has not settled (0 when none).",
            registry=registry or CollectorRegistry(),
        )
        self.oldest_held.set_function(lambda: self.held_seconds(self.ingestion))

    def start(self) -> None:
        """Read the event loop's clock from here on: the batchers stamp deliveries with it."""
        self._clock = asyncio.get_running_loop().time

    def held_seconds(self, batcher: Batcher[Any, Any]) -> float:
        """How long ``batcher`` has held its oldest unsettled delivery; 0 when none (or not started)."""
        since = batcher.oldest_held_since
        if since is None or self._clock is None:
            return 0.0
        return max(self._clock() - since, 0.0)

    def problems(self) -> list[str]:
        """Why this replica is not ready, one sentence each; empty when nothing holds it back."""
        problems = [self._held_problem(batcher) for batcher in self.batchers]
        if self.transport.blocked:
            problems.append(
                "broker: RabbitMQ has blocked publishing (a memory or disk alarm); dead letters, retries and replays "
                "wait until it clears: free memory or disk space on the broker"
            )
        return [problem for problem in problems if problem]

    def _held_problem(self, batcher: Batcher[Any, Any]) -> str | None:
        held = self.held_seconds(batcher)
        if held <= self.max_held_seconds:
            return None
        limit = f"{held:.0f} s, longer than CANDYSTORE_READY_MAX_HELD_SECONDS={self.max_held_seconds:g}"
        if batcher.failing:
            return f"{batcher.name}: writes to the database fail; deliveries have been held {limit}"
        return f"{batcher.name}: a writer is stuck; a delivery has been in hand {limit}, not written and settled"
