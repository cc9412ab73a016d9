"""The ``visibility.detector`` consumer: retail events in, conflicts stored and published.

Bound to ``retail.#``. Each event (validated by the bus against its schema) is evaluated
at once by the :class:`~visibility.domain.detection.DetectionEngine`; its findings, the engine's
changed memory and counters are written together in one transaction shared by the
events that arrived meanwhile (group commit), and each handler returns, so the bus
acknowledges its event, only after that commit. A restart therefore neither misses an
event (not acknowledged before its commit: redelivered, evaluated again) nor raises a
conflict twice (committed with the memory: a redelivery is recognised as held).

A database outage (:class:`~visibility.store.DatabaseUnavailable`) holds the transaction:
it is retried with pauses up to 10 s, the handlers wait, nothing is acknowledged or
dead-lettered. Any other failure (the database refused the data, or an unexpected error)
is blamed on one of the events, which must not fail the others: the memory, which ran
ahead of what was committed, is reloaded from the store, and the events of the group (and
those evaluated since) are evaluated again and written one per transaction. The event
whose own write fails is dead-lettered at once with the reason (``PermanentFailure``) and
the memory reloaded again, so that the events after it are judged without it; the others
commit and are acknowledged as usual.

Only openings are published (see :mod:`visibility.store.detections`), through the
outbox, right after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span

from bloodbank import Bus, Event, PermanentFailure
from bloodbank.transport import Subscription
from gumdrop.backoff import Backoff
from gumdrop.telemetry import tracing_enabled
from visibility.domain.detection import DetectionCounts, DetectionEngine, Finding
from visibility.domain.records import ConflictRecord
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.rules import Alert, RuleSet
from visibility.store import DatabaseUnavailable, StoreError, VisibilityStore
from visibility.store.detections import DetectionWrite, WriteResult

__all__ = ["BINDINGS", "CONSUMER", "Detector"]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("visibility")

CONSUMER = "visibility.detector"
BINDINGS = ("retail.#",)
_OUTAGE_BACKOFF = Backoff(first=0.25, ceiling=10.0)


@dataclass(slots=True)
class _Evaluated:
    """An event evaluated, waiting for the commit of what it changed."""

    event: Event
    findings: list[Finding]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self, error: BaseException | None = None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)
            self.done.exception()  # retrieved here: an event nobody waits for must not warn


@dataclass(slots=True)
class _Batch:
    """The events of one transaction (none when it only carries a prune)."""

    evaluated: list[_Evaluated] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [finding for entry in self.evaluated for finding in entry.findings]

    def settle(self, error: BaseException | None = None) -> None:
        for entry in self.evaluated:
            entry.settle(error)


class Detector:
    """Consumes the retail events into conflicts."""

    def __init__(
        self,
        bus: Bus,
        store: VisibilityStore,
        *,
        rules: RuleSet,
        metrics: VisibilityMetrics,
        publisher: OutboxPublisher,
        alerting: bool = False,
        batch_size: int = 500,
        batch_wait: float = 0.005,
        prefetch: int = 1000,
        on_opened: Callable[[list[ConflictRecord]], None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.rules = rules
        self.metrics = metrics
        self.publisher = publisher
        self.alerting = alerting
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.prefetch = prefetch
        self.on_opened = on_opened
        self._now = now or (lambda: datetime.now(UTC))
        self.engine = DetectionEngine(rules)
        self._first = {rule.id: rule.escalation[0].after for rule in rules.rules}
        self._alerted = {rule.id for rule in rules.rules if rule.routing.alert is Alert.SLACK}
        self._event_counters = {kind: metrics.events.labels(kind) for kind in self.engine.event_types}
        self._batch: _Batch | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._stopping = False

    async def start(self) -> None:
        """Reload the memory from the store, then consume."""
        if self._subscription is not None:
            return
        await self.restore()
        self._ready.set()
        self._committer = asyncio.create_task(self._commit_loop(), name="visibility-detector-commits")
        self._subscription = await self.bus.subscribe(CONSUMER, BINDINGS, self.handle, prefetch=self.prefetch)
        log.info("detecting", consumer=CONSUMER, rules=list(self.rules.ids))

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Finish the events in hand (their commit included), then stop consuming."""
        self._stopping = True
        if self._subscription is not None:
            await self._subscription.stop(timeout=timeout)
            self._subscription = None
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        if self._batch is not None:
            self._batch.settle(RuntimeError("the detector stopped before the commit"))
            self._batch = None

    def use_rules(self, rules: RuleSet) -> None:
        """Detect with ``rules`` from the next event on (a changed rules file); the memory of views kept is kept."""
        self.rules = rules
        self.engine.configure(rules)
        self._first = {rule.id: rule.escalation[0].after for rule in rules.rules}
        self._alerted = {rule.id for rule in rules.rules if rule.routing.alert is Alert.SLACK}
        self._event_counters = {kind: self.metrics.events.labels(kind) for kind in self.engine.event_types}
        log.info("detecting with changed rules", rules=list(rules.ids))

    async def restore(self) -> None:
        """Replace the engine's memory with the store's."""
        held = await self.store.load_memory()
        self.engine.state.restore(held)
        self.engine.take_counts()
        log.info("detector memory restored", observations=len(held))

    def prune(self) -> int:
        """Forget expired offers (persisted with the next commit)."""
        dropped = self.engine.prune()
        if dropped:
            self._current()  # a batch carries the deletion even when no event arrives
            self._wake.set()
        return dropped

    async def handle(self, event: Event) -> None:
        """Evaluate one retail event; return once what it changed is committed."""
        while not self._ready.is_set():  # looked at again on waking: a failed write may have cleared it meanwhile
            await self._ready.wait()
        self._count(event)
        with self._detect_span(event) as span:
            entry = _Evaluated(event, self._evaluate(event))
            if span is not None:
                span.set_attribute("visibility.findings", len(entry.findings))
            self._current().evaluated.append(entry)
            self._wake.set()
            await asyncio.shield(entry.done)

    @staticmethod
    def _detect_span(event: Event) -> AbstractContextManager[Span | None]:
        """``detect {event_type}``: the evaluation and its commit, a child of the event's ``process`` span."""
        if not tracing_enabled():
            return contextlib.nullcontext()
        attributes = {"messaging.message.id": event.event_id, "visibility.event_type": event.event_type}
        return _tracer.start_as_current_span(f"detect {event.event_type}", attributes=attributes)

    def _count(self, event: Event) -> None:
        counter = self._event_counters.get(event.event_type)
        if counter is not None:
            counter.inc()

    def _evaluate(self, event: Event) -> list[Finding]:
        try:
            return self.engine.on_event(event.event_type, event.document["payload"], event.event_id)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:  # the schema accepted it; we cannot read it
            raise PermanentFailure(f"the detector cannot read {event.event_type} {event.event_id}: {exc}") from exc

    def _current(self) -> _Batch:
        if self._batch is None:
            self._batch = _Batch()
        return self._batch

    async def _commit_loop(self) -> None:
        while True:
            await self._wake.wait()
            if self.batch_wait and self._batch is not None and len(self._batch.evaluated) < self.batch_size:
                await asyncio.sleep(self.batch_wait)
            self._wake.clear()
            batch, self._batch = self._batch, None
            if batch is None:
                continue
            await self._commit(batch)

    async def _commit(self, batch: _Batch) -> None:
        try:
            result, counts = await self._write_changes(batch.findings)
        except DatabaseUnavailable as exc:  # stopping during an outage: the bus gives the events back
            log.warning("detections not written while stopping; the events are retried", error=str(exc))
            self._ready.clear()
            batch.settle(exc)
            stale, self._batch = self._batch, None  # evaluated on a memory that was not committed
            if stale is not None:
                stale.settle(exc)
            await self._reload()
            self._ready.set()
            return
        except Exception as exc:  # noqa: BLE001 - not the infrastructure: one of the events is at fault
            await self._isolate(batch, exc)
            return
        batch.settle()
        self._committed(result, counts)

    async def _write_changes(self, findings: list[Finding]) -> tuple[WriteResult, DetectionCounts]:
        """Write ``findings`` with the memory's changes and the counts since the last write."""
        counts = self.engine.take_counts()
        write = DetectionWrite(
            findings=findings,
            changes=self.engine.state.take_changes(),
            counts=counts,
            detected_at=self._now(),
            first_escalation=self._first.get,
            alerting=self.alerting,
            alerted=self._alerted.__contains__,
        )
        return await self._write(write), counts

    def _committed(self, result: WriteResult, counts: DetectionCounts) -> None:
        for rule, count in counts.unverifiable.items():
            self.metrics.unverifiable.labels(rule).inc(count)
        self._observe(result)
        self.publisher.notify(result.events)
        if result.opened and self.on_opened is not None:
            try:
                self.on_opened(result.opened)
            except Exception:  # a listener must never hold up detection
                log.exception("on_opened failed")

    async def _isolate(self, batch: _Batch, error: Exception) -> None:
        """Write each event's detections on its own, on a reloaded memory, to find the event at fault (see module)."""
        self._ready.clear()
        stale, self._batch = self._batch, None  # evaluated on a memory that was not committed: evaluated again
        evaluated = [*batch.evaluated, *(stale.evaluated if stale is not None else [])]
        log.warning(
            "writing detections failed; writing each event's on its own",
            events=len(evaluated),
            error=_describe(error),
            exc_info=False if isinstance(error, StoreError) else error,  # unexpected: where it was raised
        )
        await self._reload()
        for index, entry in enumerate(evaluated):
            try:
                await self._commit_alone(entry)
            except DatabaseUnavailable as exc:  # stopping during an outage: the bus gives the rest back
                for waiting in evaluated[index:]:
                    waiting.settle(exc)
                await self._reload()
                break
        self._ready.set()

    async def _commit_alone(self, entry: _Evaluated) -> None:
        """Evaluate one event again and write what it changed; dead-letter it if that write fails on its own."""
        event = entry.event
        try:
            findings = self._evaluate(event)
        except PermanentFailure as exc:  # read the first time: a change of the engine's, should it happen
            entry.settle(exc)
            return
        try:
            result, counts = await self._write_changes(findings)
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - this event's own detections cannot be written
            await self._dead_letter(entry, exc)
            return
        entry.settle()
        self._committed(result, counts)

    async def _dead_letter(self, entry: _Evaluated, error: Exception) -> None:
        """Fail the event with ``PermanentFailure`` (the bus dead-letters it at once) and forget what it changed."""
        event = entry.event
        reason = f"the detector cannot store what {event.event_type} {event.event_id} caused: {_describe(error)}"
        log.error(
            "the detections of an event cannot be written; dead-lettering it",
            event_id=event.event_id,
            event_type=event.event_type,
            error_type=type(error).__name__,
            error=_describe(error),
        )
        entry.settle(PermanentFailure(reason))
        await self._reload()  # its changes were not committed: forgotten before the next event is judged

    async def _write(self, write: DetectionWrite) -> WriteResult:
        for failures in range(1, 1_000_000):
            try:
                return await self.store.write_detections(write)
            except DatabaseUnavailable as exc:
                if self._stopping:
                    raise
                pause = _OUTAGE_BACKOFF.pause(failures)
                log.warning("database unavailable; holding the events", error=str(exc), pause=pause)
                await asyncio.sleep(pause)
        raise DatabaseUnavailable("the database stayed unavailable")  # pragma: no cover - a million pauses

    async def _reload(self) -> None:
        """Restore the memory from the store, waiting while it is unavailable."""
        for failures in range(1, 1_000_000):
            try:
                await self.restore()
            except StoreError as exc:
                pause = _OUTAGE_BACKOFF.pause(failures)
                log.warning("cannot reload the detector's memory yet", error=str(exc), pause=pause)
                await asyncio.sleep(pause)
                continue
            return

    def _observe(self, result: WriteResult) -> None:
        for conflict in result.opened:
            self.metrics.conflicts.labels(conflict.rule).inc()
            self.metrics.detect_latency.observe(conflict.time_to_detect)


def _describe(error: BaseException) -> str:
    """Type and message of an error, cut short: enough to tell why, never a whole payload."""
    return f"{type(error).__name__}: {error}"[:500]
