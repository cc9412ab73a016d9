"""RabbitMQ's management HTTP API, read for what AMQP cannot tell: every queue, unacknowledged counts, rates.

AMQP's passive declaration answers a queue's ready messages and consumers, one named
queue at a time. The management plugin (``rabbitmq_management``, port 15672) lists the
queues of a virtual host with their unacknowledged messages and the broker's own
publish, deliver and ack rates. It is optional: :class:`ManagementApi` raises
:class:`ManagementUnavailable` when it cannot be read, and the transport falls back to
passive declarations.

Consumer queues are recognised by their arguments, as :mod:`bloodbank.topology` declares
them: a consumer queue dead-letters with routing key ``dlq.{name}``; a retry queue has a
queue-level TTL (its delay) and dead-letters to the default exchange with its consumer's
name as routing key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
from yarl import URL

from bloodbank.errors import BloodbankError
from bloodbank.topology import DEAD_LETTER_QUEUE, UNROUTED_QUEUE, ConsumerSpec
from bloodbank.transport.base import (
    BrokerQueues,
    ConsumerQueueState,
    QueueReading,
    QueueState,
    RetryTierState,
)

__all__ = ["ManagementApi", "ManagementUnavailable", "describe_from_listing"]


class ManagementUnavailable(BloodbankError):
    """The management API did not answer with the queues (not enabled, unreachable, refused the credentials)."""


class ManagementApi:
    """The queues of the broker URL's virtual host, from the management API at ``url``.

    ``url`` is the API's base (``http://rabbit:15672``); without credentials of its own it
    uses the broker URL's (RabbitMQ's management API takes the same users).
    """

    def __init__(self, url: str, *, broker_url: str, timeout: float) -> None:
        base, broker = URL(url), URL(broker_url)
        self.vhost = broker.path[1:] or "/"
        self._auth = (base.user or broker.user or "guest", base.password or broker.password or "guest")
        self._base = base.with_user(None).with_password(None)
        self._timeout = timeout

    @property
    def location(self) -> str:
        """The API's address, without credentials."""
        return str(self._base)

    async def queues(self) -> list[dict[str, Any]]:
        """Every queue of the virtual host as the API describes it; ManagementUnavailable saying why otherwise."""
        address = f"{str(self._base).rstrip('/')}/api/queues/{quote(self.vhost, safe='')}"
        try:
            async with httpx.AsyncClient(auth=self._auth, timeout=self._timeout) as client:
                response = await client.get(address)
        except httpx.HTTPError as exc:
            raise ManagementUnavailable(f"the management API at {self.location} did not answer: {exc!r}") from exc
        if response.status_code != httpx.codes.OK:
            raise ManagementUnavailable(
                f"the management API at {self.location} answered {response.status_code} for the queues of "
                f"virtual host {self.vhost!r}; check that the plugin is enabled and the user may monitor"
            )
        try:
            listing = response.json()
        except ValueError as exc:
            raise ManagementUnavailable(f"the management API at {self.location} answered no JSON: {exc}") from exc
        if not isinstance(listing, list):
            raise ManagementUnavailable(f"the management API at {self.location} answered no list of queues")
        return [queue for queue in listing if isinstance(queue, dict) and isinstance(queue.get("name"), str)]


def describe_from_listing(listing: Sequence[Mapping[str, Any]], consumers: Sequence[ConsumerSpec]) -> BrokerQueues:
    """The :class:`BrokerQueues` of a management API listing: every consumer queue in it, ``consumers`` or not."""
    by_name = {str(queue["name"]): queue for queue in listing}
    known = {spec.name: spec for spec in consumers}
    found = []
    for name, queue in sorted(by_name.items()):
        if _arguments(queue).get("x-dead-letter-routing-key") != f"dlq.{name}":
            continue
        spec = known.get(name)
        tiers = _known_tiers(spec, by_name) if spec is not None else _found_tiers(name, listing)
        stats = queue.get("message_stats") or {}
        found.append(
            ConsumerQueueState(
                name,
                ready=_count(queue, "messages_ready"),
                unacked=_count(queue, "messages_unacknowledged"),
                consumers=_count(queue, "consumers"),
                retry_tiers=tiers,
                publish_rate=_rate(stats, "publish_details"),
                deliver_rate=_rate(stats, "deliver_get_details"),
                ack_rate=_rate(stats, "ack_details"),
            )
        )
    return BrokerQueues(
        reading=QueueReading.MANAGEMENT,
        consumers=tuple(found),
        dead_letters=_state(by_name.get(DEAD_LETTER_QUEUE)),
        unrouted=_state(by_name.get(UNROUTED_QUEUE)),
    )


def _known_tiers(spec: ConsumerSpec, by_name: Mapping[str, Mapping[str, Any]]) -> tuple[RetryTierState, ...]:
    tiers = []
    for delay in spec.retry_delays:
        queue = by_name.get(spec.retry_queue(delay))
        tiers.append(RetryTierState(delay, spec.retry_queue(delay), None if queue is None else _depth(queue)))
    return tuple(tiers)


def _found_tiers(consumer: str, listing: Sequence[Mapping[str, Any]]) -> tuple[RetryTierState, ...]:
    """The retry queues that dead-letter back to ``consumer``, shortest delay first."""
    tiers = []
    for queue in listing:
        arguments = _arguments(queue)
        ttl = arguments.get("x-message-ttl")
        if (
            arguments.get("x-dead-letter-exchange") == ""
            and arguments.get("x-dead-letter-routing-key") == consumer
            and isinstance(ttl, int | float)
        ):
            tiers.append(RetryTierState(ttl / 1000, str(queue["name"]), _depth(queue)))
    return tuple(sorted(tiers, key=lambda tier: tier.delay))


def _state(queue: Mapping[str, Any] | None) -> QueueState | None:
    if queue is None:
        return None
    return QueueState(
        ready=_count(queue, "messages_ready"),
        unacked=_count(queue, "messages_unacknowledged"),
        consumers=_count(queue, "consumers"),
    )


def _depth(queue: Mapping[str, Any]) -> int:
    """Messages in a retry queue: all of them wait out its TTL, none is consumed."""
    return _count(queue, "messages_ready") + _count(queue, "messages_unacknowledged")


def _arguments(queue: Mapping[str, Any]) -> Mapping[str, Any]:
    arguments = queue.get("arguments")
    return arguments if isinstance(arguments, Mapping) else {}


def _count(queue: Mapping[str, Any], key: str) -> int:
    value = queue.get(key)  # absent for a moment after the queue is declared
    return int(value) if isinstance(value, int | float) else 0


def _rate(stats: Mapping[str, Any], key: str) -> float | None:
    details = stats.get(key)
    if not isinstance(details, Mapping):  # no such message yet: the broker tells no rate, which is zero
        return 0.0
    rate = details.get("rate")
    return float(rate) if isinstance(rate, int | float) else None
