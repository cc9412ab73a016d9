"""Publishing: build the envelope, validate it, publish with confirms, retry across reconnects.

``publish`` returns only after the broker confirmed; nothing invalid reaches the broker;
when the broker is unreachable the publish is retried until ``publish_timeout``, then
:class:`~bloodbank.errors.BrokerUnavailable` is raised. With signing keys each message
carries the signature headers of :mod:`bloodbank.signing`, computed over its final body. Every message
carries the CloudEvents AMQP binding's ``cloudEvents:*`` properties (:mod:`bloodbank.cloudevents`).

``publish_many`` is where a batch meets the broker: it splits the batch into windows of
unconfirmed messages, retries the unconfirmed ones, and answers every event with a
:class:`PublishOutcome`. Once one event of the call is confirmed it never raises: each
event has its status (:class:`~bloodbank.transport.PublishStatus`). It raises
:class:`~bloodbank.errors.BrokerUnavailable` only when the broker stayed unreachable
and not one event was confirmed, so that nothing is durable and the whole call can be
retried.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import structlog
from opentelemetry.trace import Span, StatusCode

from bloodbank import cloudevents
from bloodbank.correlation import CorrelationTracker, Link
from bloodbank.envelope import build_envelope
from bloodbank.errors import BrokerUnavailable, PublishFailed
from bloodbank.metrics import BloodbankMetrics
from bloodbank.payloads import Payload, payload_document
from bloodbank.signing import MessageSignatures
from bloodbank.tracing import publish_span, stamped
from bloodbank.transport import OutgoingMessage, PublishResult, PublishStatus, Transport
from gumdrop.backoff import Backoff
from gumdrop.telemetry import tracing_enabled
from holyfields import EventValidator, InvalidEvent, ValidationIssue

__all__ = ["PublishOutcome", "PublishStatus", "Publisher"]

log = structlog.get_logger(__name__)
_RETRY_BACKOFF = Backoff(first=0.05, ceiling=1.0)
_LEAST_TIMEOUT = 0.01  # a last attempt always gets a moment to be answered
_METRIC_OUTCOMES = {
    PublishStatus.INVALID: "invalid",
    PublishStatus.NACKED: "failed",
    PublishStatus.RETURNED: "failed",
    PublishStatus.UNCONFIRMED: "unavailable",
}
_CONFIRMED_OUTCOMES = frozenset({"ok", "unrouted"})
"""The outcomes whose events the broker confirmed: what ``bloodbank_publish_duration_seconds`` times."""


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What became of one event: its ``status``, and ``issues`` (invalid) or ``error`` (not confirmed) saying why."""

    event_id: str | None
    status: PublishStatus = PublishStatus.CONFIRMED
    routed: bool | None = None
    issues: tuple[ValidationIssue, ...] = ()
    error: str | None = None

    @classmethod
    def invalid(cls, event_id: str | None, issues: Sequence[ValidationIssue]) -> PublishOutcome:
        return cls(event_id, PublishStatus.INVALID, issues=tuple(issues))

    @property
    def ok(self) -> bool:
        """Whether the broker confirmed the event: it is durable."""
        return self.status is PublishStatus.CONFIRMED


class Publisher:
    """Publishes validated events through a transport, each signed when ``signatures`` is given."""

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
        signatures: MessageSignatures | None = None,
    ) -> None:
        self.transport = transport
        self.signatures = signatures
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
        self._durations: dict[str, Any] = {}

    async def publish(
        self,
        event_type: str,
        payload: Payload,
        *,
        correlation_ids: Sequence[str] | None = None,
        agent_context: Mapping[str, Any] | None = None,
        source: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> str:
        """Publish one event; return its id after the broker's confirm.

        ``payload`` is a mapping or a Pydantic model of that event type (the generated ones in
        ``holyfields.generated.python``). Raises InvalidEvent, PublishFailed or BrokerUnavailable.
        """
        envelope = build_envelope(
            event_type,
            payload_document(event_type, payload),
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
        if outcome.status is PublishStatus.UNCONFIRMED:
            raise BrokerUnavailable(outcome.error or "the broker did not confirm the event")
        if not outcome.ok:
            raise PublishFailed(outcome.event_id or "?", outcome.error or outcome.status.value)
        assert outcome.event_id is not None  # noqa: S101 - a confirmed outcome has an id
        return outcome.event_id

    async def publish_many(
        self, envelopes: Sequence[Mapping[str, Any]], *, headers: Mapping[str, Any] | None = None
    ) -> list[PublishOutcome]:
        """Validate every envelope, publish the valid ones window by window, answer per envelope in order.

        Raises :class:`BrokerUnavailable` only when the broker stayed unreachable for
        ``publish_timeout`` and no event of the call was confirmed.
        """
        started = time.perf_counter()
        outcomes: list[PublishOutcome | None] = [None] * len(envelopes)
        counts: Counter[tuple[str, str]] = Counter()
        ready, spans = self._prepared(envelopes, headers, outcomes, counts)
        if ready:
            self._valid.inc(len(ready))
        try:
            lost: str | None = None  # why a window stayed unconfirmed: the broker is gone, the rest is not sent
            for start in range(0, len(ready), self.window):
                chunk = ready[start : start + self.window]
                if lost is None:
                    lost = await self._publish_chunk(chunk, outcomes, counts)
                else:
                    for index, envelope, _ in chunk:
                        outcomes[index] = self._settled(envelope, _not_sent(envelope, lost), counts)
        finally:
            # Counted once per call and label, not per event: a batch's counters cost one increment each.
            took = time.perf_counter() - started
            for (event_type, outcome), count in counts.items():
                self._counter(event_type, outcome).inc(count)
                if outcome in _CONFIRMED_OUTCOMES:
                    self._duration(event_type).observe(took)
            for index, span in spans.items():
                _end_publish_span(span, outcomes[index])
        answered = [outcome for outcome in outcomes if outcome is not None]
        unconfirmed = [outcome for outcome in answered if outcome.status is PublishStatus.UNCONFIRMED]
        if unconfirmed and not any(outcome.ok for outcome in answered):
            raise BrokerUnavailable(unconfirmed[0].error or "the broker did not confirm")
        return answered

    def _prepared(
        self,
        envelopes: Sequence[Mapping[str, Any]],
        headers: Mapping[str, Any] | None,
        outcomes: list[PublishOutcome | None],
        counts: Counter[tuple[str, str]],
    ) -> tuple[list[tuple[int, Mapping[str, Any], OutgoingMessage]], dict[int, Span]]:
        """The valid envelopes as messages (the invalid ones answered in ``outcomes``), and their publish spans."""
        ready: list[tuple[int, Mapping[str, Any], OutgoingMessage]] = []
        spans: dict[int, Span] = {}
        traced = tracing_enabled()
        signatures = self.signatures
        for index, envelope in enumerate(envelopes):
            body, issues = self._encoded_and_checked(envelope)
            event_type = str(envelope.get("event_type", "")) if isinstance(envelope, Mapping) else ""
            if issues:
                self.metrics.validation.labels("publish", "invalid").inc()
                # Only registered types become label values: clients must not mint unbounded series.
                counts[event_type if event_type in self._known_types else "unknown", "invalid"] += 1
                outcomes[index] = PublishOutcome.invalid(_event_id(envelope), issues)
                continue
            # A consumer that knows only CloudEvents reads the event's attributes (the AMQP binding).
            message_headers = cloudevents.amqp_properties(envelope)
            if headers:
                message_headers.update(headers)
            published = envelope
            if traced:  # the envelope and the message headers carry the publish span's context
                span = spans[index] = publish_span(envelope, transport=self.transport.name)
                published, trace_headers = stamped(envelope, span)
                body = msgspec.json.encode(published)
                message_headers.update(trace_headers)
            if signatures is not None:  # over the final body, and last: a caller's copy of old headers is replaced
                message_headers.update(signatures.sign(body))
            message = OutgoingMessage(
                body=body, routing_key=event_type, message_id=str(envelope["event_id"]), headers=message_headers
            )
            ready.append((index, published, message))
        return ready, spans

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
    ) -> str | None:
        """Send one window of valid events, then settle each: its outcome, its causation, unrouted ones told.

        Returns why events of the window stayed unconfirmed, if any did.
        """
        results = await self._confirmed([message for _, _, message in chunk])
        links: list[Link] = []
        unrouted: list[Mapping[str, Any]] = []
        lost: str | None = None
        for (index, envelope, _), result in zip(chunk, results, strict=True):
            outcome = outcomes[index] = self._settled(envelope, result, counts)
            if outcome.ok:
                links.append((str(outcome.event_id), [str(p) for p in envelope.get("correlation_ids", [])]))
                if outcome.routed is False:
                    unrouted.append(envelope)
            elif outcome.status is PublishStatus.UNCONFIRMED:
                lost = outcome.error
        if self.tracker is not None and links:
            await self.tracker.record_many(links)  # once per window: one round trip to Redis, not one per event
        for envelope in unrouted:
            await self.notify_unrouted(str(envelope["event_id"]), str(envelope["event_type"]))
        return lost

    async def _confirmed(self, messages: list[OutgoingMessage]) -> list[PublishResult]:
        """Each message's answer; the unconfirmed ones are sent again until ``publish_timeout`` has passed."""
        results: dict[int, PublishResult] = {}
        waiting = list(range(len(messages)))
        deadline = time.monotonic() + self.publish_timeout
        for failures in itertools.count(1):
            remaining = max(deadline - time.monotonic(), _LEAST_TIMEOUT)
            answers = await self.transport.publish_each([messages[i] for i in waiting], timeout=remaining)
            results.update(zip(waiting, answers, strict=True))
            waiting = [i for i in waiting if results[i].status is PublishStatus.UNCONFIRMED]
            pause = min(_RETRY_BACKOFF.pause(failures), deadline - time.monotonic())
            if not waiting or pause <= 0:
                break
            log.warning("broker unavailable, retrying publish", error=results[waiting[0]].reason, pause=pause)
            await asyncio.sleep(pause)
        for i in waiting:
            reason = f"the broker did not confirm within {self.publish_timeout:g} s: {results[i].reason}"
            results[i] = PublishResult.failed(messages[i].message_id, PublishStatus.UNCONFIRMED, reason)
        return [results[i] for i in range(len(messages))]

    @staticmethod
    def _settled(
        envelope: Mapping[str, Any], result: PublishResult, counts: Counter[tuple[str, str]]
    ) -> PublishOutcome:
        event_type = str(envelope["event_type"])
        event_id = str(envelope["event_id"])
        if result.status is PublishStatus.CONFIRMED:
            counts[event_type, "unrouted" if result.routed is False else "ok"] += 1
            return PublishOutcome(event_id, routed=result.routed)
        counts[event_type, _METRIC_OUTCOMES[result.status]] += 1
        return PublishOutcome(event_id, result.status, error=result.reason)

    def _counter(self, event_type: str, outcome: str) -> Any:
        key = (event_type, outcome)
        child = self._published.get(key)
        if child is None:
            child = self._published[key] = self.metrics.publish.labels(event_type, outcome)
        return child

    def _duration(self, event_type: str) -> Any:
        child = self._durations.get(event_type)
        if child is None:
            child = self._durations[event_type] = self.metrics.publish_duration.labels(event_type)
        return child

    async def notify_unrouted(self, event_id: str, event_type: str) -> None:
        """Tell the owner that an event matched no binding (it is kept in ``unrouted.all``)."""
        log.warning("event matched no binding; kept in unrouted.all", event_id=event_id, event_type=event_type)
        if self.on_unrouted is not None:
            pending = self.on_unrouted(event_id, event_type)
            if pending is not None:
                await pending


def _end_publish_span(span: Span, outcome: PublishOutcome | None) -> None:
    if outcome is None:
        span.set_status(StatusCode.ERROR, "not sent: the publish was interrupted")
    elif not outcome.ok:
        span.set_status(StatusCode.ERROR, outcome.error or outcome.status.value)
    span.end()


def _not_sent(envelope: Mapping[str, Any], lost: str) -> PublishResult:
    reason = f"not sent: an earlier part of the batch was not confirmed ({lost})"
    return PublishResult.failed(str(envelope["event_id"]), PublishStatus.UNCONFIRMED, reason)


def _event_id(envelope: object) -> str | None:
    value = envelope.get("event_id") if isinstance(envelope, Mapping) else None
    return value if isinstance(value, str) else None
