"""The visibility store: one object over an async engine, speaking conflicts and store errors only.

Every method runs in its own transaction; SQLAlchemy and driver exceptions are
translated here, at the boundary, into :mod:`visibility.store.errors`, classified by what
caused them: the infrastructure or the data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gumdrop.sql_engine import create_engine
from visibility.domain.okr import Okr, compute_okr
from visibility.domain.records import ConflictRecord
from visibility.domain.rule_health import RuleHealth, judge_rule
from visibility.domain.state import StoredObservation
from visibility.domain.transitions import Action
from visibility.rules import EscalationStep, Rule
from visibility.store import alerts as alert_rows
from visibility.store import outbox as outbox_rows
from visibility.store.actions import (
    Applied,
    EscalationMessage,
    Result,
    apply_action,
    apply_action_to_many,
    escalate_due,
)
from visibility.store.counters import sum_counts
from visibility.store.detections import DetectionWrite, WriteResult, write_detections
from visibility.store.errors import translate
from visibility.store.memory import load_memory
from visibility.store.migrate import upgrade
from visibility.store.okr import read_okr_inputs
from visibility.store.outbox import OutboxEvent
from visibility.store.queries import ConflictFilter, ConflictPage, get_conflict, list_conflicts
from visibility.store.rule_outcomes import read_rule_outcomes
from visibility.store.trend import HourCounts, hourly_counts

__all__ = ["VisibilityStore"]

_NO_FILTER = ConflictFilter()

MessageBuilder = Callable[[str, list[ConflictRecord]], Mapping[str, Any]]
"""Builds the Slack message of a rule's group of new conflicts."""


class VisibilityStore:
    """Conflicts, their lifecycle, the detector's memory, counters and outboxes, in one database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, connect_args: Mapping[str, Any] | None = None) -> VisibilityStore:
        """A store on ``url`` (no connection is made until it is used); call :meth:`migrate` before use."""
        return cls(create_engine(url, connect_args=connect_args))

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as connection:
                yield connection
        except (SQLAlchemyError, OSError, TimeoutError, OverflowError) as exc:
            raise translate(exc) from exc

    async def migrate(self) -> None:
        """Create or upgrade the visibility tables."""
        await upgrade(self.engine)

    async def ping(self) -> None:
        """Raise :class:`~visibility.store.errors.DatabaseUnavailable` unless the database answers."""
        async with self._transaction() as connection:
            await connection.execute(text("SELECT 1"))

    # --- the detector ---------------------------------------------------------------------------

    async def load_memory(self) -> list[StoredObservation]:
        """The detector's persisted memory."""
        async with self._transaction() as connection:
            return await load_memory(connection)

    async def write_detections(self, write: DetectionWrite) -> WriteResult:
        """Conflicts, memory, counters and outbox rows of one batch of events, in one transaction."""
        async with self._transaction() as connection:
            return await write_detections(connection, write)

    # --- reading --------------------------------------------------------------------------------

    async def conflicts(
        self, filters: ConflictFilter = _NO_FILTER, *, limit: int = 100, cursor: str | None = None
    ) -> ConflictPage:
        """A page of matching conflicts, newest first; pass ``next_cursor`` for the next."""
        async with self._transaction() as connection:
            return await list_conflicts(connection, filters, limit=limit, cursor=cursor)

    async def conflict(self, conflict_id: uuid.UUID) -> ConflictRecord | None:
        """One conflict with its actions, or None."""
        async with self._transaction() as connection:
            return await get_conflict(connection, conflict_id)

    async def counts(self, *, since: datetime, until: datetime | None = None) -> dict[str, int]:
        """The per-minute counters summed over a period."""
        async with self._transaction() as connection:
            return await sum_counts(connection, since=since, until=until)

    async def okr(self, *, now: datetime, period: timedelta, sla: timedelta) -> Okr:
        """The OKR figures over ``period`` up to ``now``."""
        async with self._transaction() as connection:
            inputs = await read_okr_inputs(connection, since=now - period, week_ago=now - timedelta(days=7))
        return compute_okr(inputs, now=now, period=period, sla=sla)

    async def rule_health(self, rules: Sequence[Rule], *, now: datetime) -> list[RuleHealth]:
        """Each rule's disputed share over its own window up to ``now``, flagged past its limit, with a suggestion."""
        async with self._transaction() as connection:
            return [
                judge_rule(rule, await read_rule_outcomes(connection, rule.id, since=now - rule.false_positives.window))
                for rule in rules
            ]

    async def trend(self, *, now: datetime, hours: int) -> list[HourCounts]:
        """The counters of the ``hours`` clock hours up to the one holding ``now`` (still running), oldest first."""
        async with self._transaction() as connection:
            return await hourly_counts(connection, first=now - timedelta(hours=hours - 1), hours=hours)

    # --- the lifecycle --------------------------------------------------------------------------

    async def act(
        self, conflict_id: uuid.UUID, action: Action, *, actor: str, note: str | None, at: datetime
    ) -> Applied | None:
        """Apply a person's action; None when there is no such conflict. Raises the lifecycle's errors."""
        async with self._transaction() as connection:
            return await apply_action(connection, conflict_id, action, actor=actor, note=note, at=at)

    async def act_on_many(
        self, conflict_ids: Sequence[uuid.UUID], action: Action, *, actor: str, note: str | None, at: datetime
    ) -> list[Result]:
        """Apply a person's action to every conflict that allows it, in one transaction; one result per id."""
        async with self._transaction() as connection:
            return await apply_action_to_many(connection, conflict_ids, action, actor=actor, note=note, at=at)

    async def escalate_due(
        self,
        *,
        now: datetime,
        steps: Callable[[str], tuple[EscalationStep, ...] | None],
        limit: int = 100,
        message: EscalationMessage | None = None,
    ) -> list[Applied]:
        """Take the escalation steps due at ``now`` (at most ``limit`` conflicts), queuing ``message`` of each."""
        async with self._transaction() as connection:
            return await escalate_due(connection, now=now, steps=steps, limit=limit, message=message)

    # --- the bus outbox -------------------------------------------------------------------------

    async def unpublished(self, *, limit: int = 100) -> list[OutboxEvent]:
        async with self._transaction() as connection:
            return await outbox_rows.unpublished(connection, limit=limit)

    async def mark_published(self, event_ids: Sequence[str], *, at: datetime) -> None:
        async with self._transaction() as connection:
            await outbox_rows.mark_published(connection, event_ids, at=at)

    async def mark_publish_failed(self, event_id: str, *, error: str) -> None:
        async with self._transaction() as connection:
            await outbox_rows.mark_failed(connection, event_id, error=error)

    # --- the alert outbox -----------------------------------------------------------------------

    async def group_alerts(self, *, window_start: datetime, at: datetime, build: MessageBuilder) -> list[int]:
        """Turn each rule's new conflicts waiting since before ``window_start`` into one message; their ids."""
        created: list[int] = []
        async with self._transaction() as connection:
            for rule in await alert_rows.rules_due(connection, before=window_start):
                alert_ids, grouped = await alert_rows.group_waiting(connection, rule)
                if alert_ids:
                    created.append(
                        await alert_rows.add_message(
                            connection,
                            kind="conflicts",
                            rule=rule,
                            body=build(rule, grouped),
                            at=at,
                            alert_ids=alert_ids,
                        )
                    )
        return created

    async def add_alert_message(self, *, kind: str, rule: str | None, body: Mapping[str, Any], at: datetime) -> int:
        async with self._transaction() as connection:
            return await alert_rows.add_message(connection, kind=kind, rule=rule, body=body, at=at)

    async def undelivered_alert_messages(self, *, limit: int = 20) -> list[alert_rows.AlertMessage]:
        """The oldest messages not delivered yet, in order."""
        async with self._transaction() as connection:
            return await alert_rows.undelivered(connection, limit=limit)

    async def alert_delivered(self, message_id: int, *, at: datetime) -> None:
        async with self._transaction() as connection:
            await alert_rows.mark_delivered(connection, message_id, at=at)

    async def alert_failed(self, message_id: int, *, error: str, retry_at: datetime) -> None:
        async with self._transaction() as connection:
            await alert_rows.mark_failed(connection, message_id, error=error, retry_at=retry_at)

    async def last_alert_at(self, *, kind: str) -> datetime | None:
        async with self._transaction() as connection:
            return await alert_rows.last_message_at(connection, kind=kind)

    async def alert_messages(self) -> list[alert_rows.AlertMessage]:
        """Every alert message, oldest first."""
        async with self._transaction() as connection:
            return await alert_rows.list_messages(connection)
