"""The lifecycle runner: applies people's actions to conflicts and takes the escalation steps as they fall due.

The transitions themselves are :mod:`visibility.domain.transitions`. While unresolved (open
or acknowledged), a conflict escalates by its rule's steps: after the first step's ``after``
(24 h by default) to the decision authority, after the next one's (48 h more) to the
executive. The deadlines are stored with the conflict, anchored to the detection, so they
hold across restarts; a service that was down catches up at once. With alerting on, each
step's Slack message is queued with the step itself (``escalation_message``), so it is
announced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from visibility.domain.records import ConflictRecord
from visibility.domain.transitions import Action
from visibility.publishing import OutboxPublisher
from visibility.rules import RuleSet
from visibility.store import StoreError, VisibilityStore
from visibility.store.actions import EscalationMessage, Result

__all__ = ["Lifecycle"]

log = structlog.get_logger(__name__)


class Lifecycle:
    """Applies people's actions and the escalation timers, and publishes what they resolve or escalate."""

    def __init__(
        self,
        store: VisibilityStore,
        *,
        rules: RuleSet,
        publisher: OutboxPublisher,
        interval: float = 30.0,
        now: Callable[[], datetime] | None = None,
        escalation_message: EscalationMessage | None = None,
    ) -> None:
        self.store = store
        self.escalation_message = escalation_message
        self.rules = rules
        self.publisher = publisher
        self.interval = interval
        self._now = now or (lambda: datetime.now(UTC))
        self._steps = {rule.id: rule.escalation for rule in rules.rules}
        self._task: asyncio.Task[None] | None = None

    def use_rules(self, rules: RuleSet) -> None:
        """Escalate by ``rules`` from now on (a changed rules file); a conflict of a rule now gone keeps its steps."""
        self.rules = rules
        self._steps = {**self._steps, **{rule.id: rule.escalation for rule in rules.rules}}

    async def act(
        self, conflict_id: uuid.UUID, action: Action, *, actor: str, note: str | None
    ) -> ConflictRecord | None:
        """Apply ``action``; None when there is no such conflict.

        Raises :class:`~visibility.domain.transitions.LifecycleError` when the action does not apply.
        """
        applied = await self.store.act(conflict_id, action, actor=actor, note=note, at=self._now())
        if applied is None:
            return None
        if applied.event is not None:
            self.publisher.notify([applied.event])
        return applied.conflict

    async def act_on_many(
        self, conflict_ids: list[uuid.UUID], action: Action, *, actor: str, note: str | None
    ) -> list[Result]:
        """Apply ``action`` to each conflict that allows it, together; one result per id, in order.

        Raises :class:`~visibility.domain.transitions.ReasonRequired` when the action needs a note.
        """
        results = await self.store.act_on_many(conflict_ids, action, actor=actor, note=note, at=self._now())
        self.publisher.notify([result.event for result in results if result.event is not None])
        return results

    async def escalate(self) -> list[ConflictRecord]:
        """Take every escalation step due now; the conflicts escalated."""
        escalated: list[ConflictRecord] = []
        while True:
            applied = await self.store.escalate_due(
                now=self._now(), steps=self._steps.get, message=self.escalation_message
            )
            if not applied:
                return escalated
            self.publisher.notify([item.event for item in applied if item.event is not None])
            escalated.extend(item.conflict for item in applied)

    async def start(self) -> None:
        """Check for due escalations now (catching up after a pause), then every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="visibility-escalations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                escalated = await self.escalate()
            except StoreError as exc:  # the deadlines are in the store: the next run catches up
                log.warning("escalation run failed", error=str(exc))
            else:
                for conflict in escalated:
                    log.info("conflict escalated", conflict_id=str(conflict.conflict_id), to=conflict.escalated_to)
            await asyncio.sleep(self.interval)
