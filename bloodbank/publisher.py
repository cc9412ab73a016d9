"""Publishing: build the envelope, validate it, publish with confirms, retry across reconnects.

``publish`` returns only after the broker confirmed; nothing invalid reaches the broker;
when the broker is unreachable the publish is retried until ``publish_timeout``, then
:class:`~bloodbank.errors.BrokerUnavailable` is raised. ``publish_many`` pipelines a
batch with a bounded window of unconfirmed messages and answers per event.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import structlog

from bloodbank.correlation import CorrelationTracker, Link
from bloodbank.envelope import build_envelope
from bloodbank.errors import BrokerUnavailable, PublishFailed
from bloodbank.metrics import BloodbankMetrics
from bloodbank.transport import OutgoingMessage, PublishResult, Transport
from holyfields import EventValidator, InvalidEvent, ValidationIssue

__all__ = ["PublishOutcome", "Publisher"]

log = structlog.get_logger(__name__)
_RETRY_PAUSES = (0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """One event of a batch: published (``event_id``, ``routed``) or refused (``issues``/``error``)."""

    event_id: str | None
    routed: bool | None = None
    issues: tuple[ValidationIssue, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.issues and self.error is None


class Publisher:
    """Publishes validated events through a transport."""

    def __init__(
        self,
        transport: Transport,
        *,
        validator: EventValidator,
        source: Mapping[str, Any],
        publish_timeout: float = 30.0,
        window: int = 256,
        tracker: CorrelationTracker | None = None,
        metrics: BloodbankMetrics | None = None,
        on_unrouted: Callable[[str, str], Awaitable[None] | None] | None = None,
    ) -> None:
        self.transport = transport
        self.validator = validator
        self.source = dict(source)
        self.publish_timeout = publish_timeout
        self.window = window
        self.tracker = tracker
        self.metrics = metrics or BloodbankMetrics()
        self.on_unrouted = on_unrouted
        self._known_types = frozenset(validator.event_types)
        self._valid = self.metrics.validation.labels("publish", "valid")
        self._published: dict[tuple[str, str], Any] = {}

    async def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        correlation_ids: Sequence[str] | None = None,
        agent_context: Mapping[str, Any] | None = None,
        source: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Publish one event; return its id after the broker's confirm. Raises InvalidEvent or BrokerUnavailable."""
        envelope = build_envelope(
            event_type,
            payload,
            source=source or self.source,
            correlation_ids=correlation_ids,
            agent_context=agent_context,
            event_id=event_id,
            timestamp=timestamp,
        )
        return await self.publish_envelope(envelope)

    async def publish_envelope(self, envelope: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Publish one complete envelope; return its id after the confirm."""
        outcome = (await self.publish_many([envelope], headers=headers))[0]
        if outcome.issues:
            raise InvalidEvent(outcome.issues)
        if outcome.error is not None:
            raise PublishFailed(outcome.event_id or "?", outcome.error)
        assert outcome.event_id is not None  # noqa: S101 - an ok outcome has an id
        return outcome.event_id

    async def publish_many(
        self, envelopes: Sequence[Mapping[str, Any]], *, headers: Mapping[str, Any] | None = None
    ) -> list[PublishOutcome]:
        """Validate every envelope, publish the valid ones pipelined, answer per envelope in order.

        Raises :class:`BrokerUnavailable` when the broker stays unreachable for ``publish_timeout``.
        """
        outcomes: list[PublishOutcome | None] = [None] * len(envelopes)
        ready: list[tuple[int, Mapping[str, Any], OutgoingMessage]] = []
        counts: Counter[tuple[str, str]] = Counter()
        for index, envelope in enumerate(envelopes):
            body, issues = self._encoded_and_checked(envelope)
            event_type = str(envelope.get("event_type", "")) if isinstance(envelope, Mapping) else ""
            if issues:
                self.metrics.validation.labels("publish", "invalid").inc()
                # Only registered types become label values: clients must not mint unbounded series.
                counts[event_type if event_type in self._known_types else "unknown", "invalid"] += 1
                outcomes[index] = PublishOutcome(_event_id(envelope), issues=tuple(issues))
                continue
            message = OutgoingMessage(
                body=body,
                routing_key=event_type,
                message_id=str(envelope["event_id"]),
                headers=dict(headers or {}),
            )
            ready.append((index, envelope, message))
        if ready:
            self._valid.inc(len(ready))
        try:
            for start in range(0, len(ready), self.window):
                await self._publish_chunk(ready[start : start + self.window], outcomes, counts)
        finally:
            # Counted once per call and label, not per event: a batch's counters cost one increment each.
            for (event_type, outcome), count in counts.items():
                self._counter(event_type, outcome).inc(count)
        return [outcome for outcome in outcomes if outcome is not None]

    def _encoded_and_checked(self, envelope: Mapping[str, Any]) -> tuple[bytes, list[ValidationIssue]]:
        """The message body of ``envelope`` and every problem with it (the encoded text makes the check cheaper)."""
        try:
            body = msgspec.json.encode(envelope)
        except (TypeError, ValueError, OverflowError) as exc:  # not JSON at all: a value msgspec cannot write
            return b"", [ValidationIssue("$", f"cannot be written as JSON: {exc}")]
        return body, self.validator.validate(envelope, encoded=body)

    async def _publish_chunk(
        self,
        chunk: Sequence[tuple[int, Mapping[str, Any], OutgoingMessage]],
        outcomes: list[PublishOutcome | None],
        counts: Counter[tuple[str, str]],
    ) -> None:
        """Send one window of valid events, then settle each: its outcome, its causation, unrouted ones told."""
        results = await self._send([message for _, _, message in chunk])
        links: list[Link] = []
        unrouted: list[Mapping[str, Any]] = []
        for (index, envelope, _), result in zip(chunk, results, strict=True):
            outcome = outcomes[index] = self._settled(envelope, result, counts)
            if outcome.ok:
                links.append((str(outcome.event_id), [str(p) for p in envelope.get("correlation_ids", [])]))
                if outcome.routed is False:
                    unrouted.append(envelope)
        if self.tracker is not None:
            await self.tracker.record_many(links)  # once per window: one round trip to Redis, not one per event
        for envelope in unrouted:
            await self.notify_unrouted(str(envelope["event_id"]), str(envelope["event_type"]))

    async def _send(self, messages: list[OutgoingMessage]) -> list[PublishResult | PublishFailed]:
        deadline = time.monotonic() + self.publish_timeout
        for attempt in range(10_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                results: list[PublishResult | PublishFailed] = list(
                    await self.transport.publish_batch(messages, timeout=remaining)
                )
            except PublishFailed as exc:
                if len(messages) == 1:
                    return [exc]
                # Find which ones the broker refused: send them one by one.
                return [item for message in messages for item in await self._send([message])]
            except BrokerUnavailable as exc:
                pause = _RETRY_PAUSES[min(attempt, len(_RETRY_PAUSES) - 1)]
                log.warning("broker unavailable, retrying publish", error=str(exc), pause=pause)
                await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0)))
                continue
            return results
        for message in messages:
            self.metrics.publish.labels(message.routing_key, "unavailable").inc()
        raise BrokerUnavailable(f"the broker did not confirm within {self.publish_timeout:g} s")

    @staticmethod
    def _settled(
        envelope: Mapping[str, Any], result: PublishResult | PublishFailed, counts: Counter[tuple[str, str]]
    ) -> PublishOutcome:
        event_type = str(envelope["event_type"])
        event_id = str(envelope["event_id"])
        if isinstance(result, PublishFailed):
            counts[event_type, "failed"] += 1
            return PublishOutcome(event_id, error=result.reason)
        counts[event_type, "unrouted" if result.routed is False else "ok"] += 1
        return PublishOutcome(event_id, routed=result.routed)

    def _counter(self, event_type: str, outcome: str) -> Any:
        key = (event_type, outcome)
        child = self._published.get(key)
        if child is None:
            child = self._published[key] = self.metrics.publish.labels(event_type, outcome)
        return child

    async def notify_unrouted(self, event_id: str, event_type: str) -> None:
        """Tell the owner that an event matched no binding (it is kept in ``unrouted.all``)."""
        log.warning("event matched no binding; kept in unrouted.all", event_id=event_id, event_type=event_type)
        if self.on_unrouted is not None:
            pending = self.on_unrouted(event_id, event_type)
            if pending is not None:
                await pending


def _event_id(envelope: object) -> str | None:
    value = envelope.get("event_id") if isinstance(envelope, Mapping) else None
    return value if isinstance(value, str) else None
