"""The live hub: committed events fanned out to subscribers, each behind a bounded queue.

The ingestor calls :meth:`LiveHub.publish` after each commit with the envelopes it
newly stored. Publishing never waits: an event a subscriber's filter matches is put
in that subscriber's queue, and a subscriber whose queue is full is dropped on the
spot (its reader is told why), so a slow client can never slow ingestion down or make
the process hold an unbounded backlog. A dropped client reconnects and catches up
with ``GET /events``. A hub serves a bounded number of subscribers: one more is refused.

Filters are :class:`~candystore.store.EventFilter` and mean what they mean for
``GET /events``: the type is a pattern (``*`` one word, ``#`` any number of words,
matched in time linear in the type by :mod:`holyfields.wildcards`), payload values
are compared by type and value (``1`` equals ``1.0``, never ``"1"`` or ``true``), and payload
conditions are checked by :meth:`candystore.conditions.Condition.matches`.

Exceptions::

    SubscriberDropped (Exception)    a subscriber was let go; ``reason`` and ``code`` (a WebSocket close code)
    └── HubFull                      a new subscriber was refused: the hub serves its maximum already
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from candystore.store import EventFilter
from candystore.store.writes import normalise_timestamp
from holyfields.wildcards import TypePattern

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_SUBSCRIBERS",
    "HubFull",
    "LiveHub",
    "LiveSubscriber",
    "SubscriberDropped",
    "matches_filter",
]

DEFAULT_MAX_QUEUE = 1000
"""Events a subscriber may fall behind before it is dropped."""
DEFAULT_MAX_SUBSCRIBERS = 1000
"""Subscribers a hub serves at once (``CANDYSTORE_MAX_STREAM_SUBSCRIBERS``)."""

_Envelope = Mapping[str, Any]


class SubscriberDropped(Exception):
    """The subscriber fell too far behind, or the hub closed: ``reason`` says which, ``code`` is the close code."""

    def __init__(self, reason: str, *, code: int) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class HubFull(SubscriberDropped):
    """The hub already serves as many subscribers as it may: the new one is refused (code 1013)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the live stream is full ({limit} subscribers); try again later", code=TRY_AGAIN_LATER)


TRY_AGAIN_LATER = 1013
"""WebSocket close code "try again later": the client fell behind and was dropped, or the hub is full."""
TOO_SLOW = TRY_AGAIN_LATER
"""The close code of a subscriber dropped for falling behind."""
GOING_AWAY = 1001
"""WebSocket close code "going away": the server is shutting down."""


def _uuid_text(value: object) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _same_scalar(actual: object, expected: object) -> bool:
    """JSON equality of scalars: booleans and null only equal themselves; numbers compare by value."""
    if expected is None or isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected
    return isinstance(actual, str) and actual == expected


def _moment(envelope: _Envelope) -> datetime | None:
    try:
        return normalise_timestamp(envelope["timestamp"])[1]
    except (KeyError, TypeError, ValueError):
        return None


def matches_filter(filters: EventFilter, envelope: _Envelope) -> bool:
    """Whether ``envelope`` is one ``GET /events`` with ``filters`` would return."""
    return _Matcher(filters)(envelope)


class _Matcher:
    """A filter compiled once per subscriber."""

    def __init__(self, filters: EventFilter) -> None:
        self.filters = filters
        self.type_pattern = None if filters.event_type is None else TypePattern.parse(filters.event_type)
        self.parent = None if filters.correlation_id is None else _uuid_text(filters.correlation_id)

    def __call__(self, envelope: _Envelope) -> bool:  # noqa: C901, PLR0911 - one early exit per filter
        filters = self.filters
        if self.type_pattern is not None and not self.type_pattern.matches(str(envelope.get("event_type", ""))):
            return False
        source = envelope.get("source")
        if filters.source_app is not None and (
            not isinstance(source, Mapping) or source.get("app") != filters.source_app
        ):
            return False
        agent = envelope.get("agent_context")
        if filters.agent_name is not None and (
            not isinstance(agent, Mapping) or agent.get("name") != filters.agent_name
        ):
            return False
        if self.parent is not None and self.parent not in {
            _uuid_text(parent) for parent in envelope.get("correlation_ids") or ()
        }:
            return False
        if filters.since is not None or filters.until is not None:
            moment = _moment(envelope)
            if moment is None:
                return False
            if filters.since is not None and moment < filters.since:
                return False
            if filters.until is not None and moment >= filters.until:
                return False
        if filters.payload or filters.conditions:
            payload = envelope.get("payload")
            if not isinstance(payload, Mapping):
                return False
            if not all(key in payload and _same_scalar(payload[key], value) for key, value in filters.payload.items()):
                return False
            return all(condition.matches(payload) for condition in filters.conditions)
        return True


class LiveSubscriber:
    """One client of the hub: a filter and a bounded queue of the envelopes it has not taken yet."""

    def __init__(self, hub: LiveHub, filters: EventFilter, *, max_queue: int) -> None:
        self.hub = hub
        self.filters = filters
        self.max_queue = max_queue
        self._matches = _Matcher(filters)
        self._queue: deque[_Envelope] = deque()
        self._ready = asyncio.Event()
        self.dropped: SubscriberDropped | None = None

    @property
    def behind(self) -> int:
        """Envelopes waiting to be taken."""
        return len(self._queue)

    def _offer(self, envelopes: Iterable[_Envelope]) -> None:
        matching = [envelope for envelope in envelopes if self._matches(envelope)]
        if not matching:
            return
        if len(self._queue) + len(matching) > self.max_queue:
            behind = len(self._queue) + len(matching)
            self._drop(SubscriberDropped(f"too slow: {behind} events behind; catch up with GET /events", code=TOO_SLOW))
            return
        self._queue.extend(matching)
        self._ready.set()

    def _drop(self, reason: SubscriberDropped) -> None:
        self.dropped = reason
        self._queue.clear()
        self._ready.set()

    async def next_batch(self) -> list[_Envelope]:
        """Wait for envelopes and take every one waiting, oldest first.

        Raises :class:`SubscriberDropped` once the subscriber was dropped.
        """
        while not self._queue:
            if self.dropped is not None:
                raise self.dropped
            self._ready.clear()
            await self._ready.wait()
        if self.dropped is not None:
            raise self.dropped
        batch = list(self._queue)
        self._queue.clear()
        return batch

    def close(self) -> None:
        """Leave the hub (idempotent)."""
        self.hub.unsubscribe(self)


class LiveHub:
    """Fans committed events out to subscribers; :meth:`publish` never blocks."""

    def __init__(self, *, max_queue: int = DEFAULT_MAX_QUEUE, max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        if max_subscribers < 1:
            raise ValueError(f"max_subscribers must be at least 1, got {max_subscribers}")
        self.max_queue = max_queue
        self.max_subscribers = max_subscribers
        self._subscribers: set[LiveSubscriber] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, filters: EventFilter | None = None, *, max_queue: int | None = None) -> LiveSubscriber:
        """A new subscriber to envelopes matching ``filters`` (all when None); close it when done.

        Raises :class:`HubFull` when the hub already serves ``max_subscribers``, and
        :class:`~holyfields.wildcards.InvalidPattern` for a malformed type pattern.
        """
        if len(self._subscribers) >= self.max_subscribers:
            raise HubFull(self.max_subscribers)
        subscriber = LiveSubscriber(self, filters or EventFilter(), max_queue=max_queue or self.max_queue)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: LiveSubscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, envelopes: Sequence[_Envelope]) -> None:
        """Offer committed envelopes to every subscriber; drop those that cannot take them. Call from the loop."""
        if not envelopes:
            return
        for subscriber in list(self._subscribers):
            subscriber._offer(envelopes)  # noqa: SLF001 - the hub owns its subscribers' queues
            if subscriber.dropped is not None:
                self._subscribers.discard(subscriber)

    def close(self, reason: str = "the server is shutting down") -> None:
        """Drop every subscriber with ``reason`` (code 1001, going away)."""
        for subscriber in list(self._subscribers):
            subscriber._drop(SubscriberDropped(reason, code=GOING_AWAY))  # noqa: SLF001
        self._subscribers.clear()
