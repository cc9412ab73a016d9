"""Queue depth and consumers read from the broker into ``bloodbank_queue_messages`` and ``bloodbank_consumers``.

The broker's own view, not a database's: the dead letters waiting in ``dlq.all`` and a
consumer's lag stay visible while Candystore is down. The gateway reads the queues of the
consumers it watches (``BLOODBANK_WATCH_CONSUMERS``), their retry tiers, ``dlq.all`` and
``unrouted.all``; a queue that does not exist (yet) is left out, not reported as empty.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import structlog
from prometheus_client import Gauge

from bloodbank.errors import BloodbankError
from bloodbank.metrics import BloodbankMetrics
from bloodbank.topology import DEAD_LETTER_QUEUE, RETRY_DELAYS, UNROUTED_QUEUE, ConsumerSpec
from bloodbank.transport.base import QueueState, Transport

__all__ = ["QueueWatch", "watched_queues"]

log = structlog.get_logger(__name__)


def watched_queues(consumers: Sequence[str]) -> list[str]:
    """Each consumer's queue and its retry tiers, then ``dlq.all`` and ``unrouted.all``."""
    queues: list[str] = []
    for consumer in consumers:
        spec = ConsumerSpec(consumer, ("#",))
        queues += [consumer, *(spec.retry_queue(delay) for delay in RETRY_DELAYS)]
    return [*queues, DEAD_LETTER_QUEUE, UNROUTED_QUEUE]


class QueueWatch:
    """Reads the state of ``queues`` through ``transport`` into ``metrics`` at each :meth:`refresh`."""

    def __init__(self, transport: Transport, metrics: BloodbankMetrics, queues: Sequence[str]) -> None:
        self.transport = transport
        self.metrics = metrics
        self.queues = tuple(queues)
        self._shown: set[str] = set()

    async def refresh(self) -> None:
        """Read every queue; one the broker cannot answer for is left out until it can."""
        for queue in self.queues:
            try:
                state = await self.transport.queue_state(queue)
            except BloodbankError as exc:  # missing, or the broker is away: no figure rather than a wrong one
                self._hide(queue, str(exc))
                continue
            self._show(queue, state)

    def _show(self, queue: str, state: QueueState) -> None:
        self.metrics.queue_messages.labels(queue, "ready").set(state.ready)
        if state.unacked is not None:
            self.metrics.queue_messages.labels(queue, "unacked").set(state.unacked)
        self.metrics.consumers.labels(queue).set(state.consumers)
        self._shown.add(queue)

    def _hide(self, queue: str, why: str) -> None:
        if queue not in self._shown:
            return
        log.info("queue no longer readable; its figures are withdrawn", queue=queue, error=why)
        self._shown.discard(queue)
        for state in ("ready", "unacked"):
            self._remove(self.metrics.queue_messages, queue, state)
        self._remove(self.metrics.consumers, queue)

    @staticmethod
    def _remove(gauge: Gauge, *labels: str) -> None:
        with contextlib.suppress(KeyError):  # never set (RabbitMQ tells no unacked count)
            gauge.remove(*labels)
