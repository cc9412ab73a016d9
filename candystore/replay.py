"""Replaying: dead letters and stored events republished to the main exchange, marked as replays.

Every message carries the header ``x-bloodbank-replay`` (``dead-letter:{id}`` or
``candystore``) and goes through the :class:`~bloodbank.Publisher`, so it is validated
and published with confirms like any other event; it keeps its ``event_id``, so a
consumer that already handled it absorbs it as a duplicate.

A dead letter is marked resolved (who, when, the event id published) only after the
broker confirmed its replay. One whose body is not a valid event is answered with the
reason and stays open. A :class:`~bloodbank.BrokerUnavailable` stops the run and is
raised: the letters replayed before it are resolved, the others stay open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bloodbank import BrokerUnavailable, Publisher, PublishFailed, PublishOutcome, PublishStatus
from bloodbank.topology import Headers
from candystore.store import EventFilter, EventStore
from candystore.store.dead_letters import DeadLetterFilter, DeadLetterNotOpen, DeadLetterRecord, DeadLetterState
from holyfields import InvalidEvent, ValidationIssue
from holyfields.validation import decode_json

__all__ = [
    "EVENT_REPLAY_MARK",
    "DeadLetterReplay",
    "EventReplay",
    "ReplayOutcome",
    "replay_dead_letters",
    "replay_events",
]

EVENT_REPLAY_MARK = "candystore"
"""The ``x-bloodbank-replay`` value of a stored event republished by :func:`replay_events`."""

MAX_DEAD_LETTERS = 1000
"""Dead letters one call replays at most."""


class ReplayOutcome(StrEnum):
    """What happened to one dead letter asked to be replayed."""

    REPLAYED = "replayed"
    """Published (confirmed) and marked resolved."""
    INVALID = "invalid"
    """Its body is not a valid event (``reason`` says why): not published, still open."""
    FAILED = "failed"
    """The broker refused it (``reason`` says why): still open."""
    NOT_OPEN = "not_open"
    """It was already resolved or discarded: not published again."""
    NOT_FOUND = "not_found"
    """No dead letter has this id."""


@dataclass(frozen=True, slots=True)
class DeadLetterReplay:
    """The outcome for one dead letter."""

    id: str
    outcome: ReplayOutcome
    event_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventReplay:
    """What :func:`replay_events` did: events published, refused as invalid, refused by the broker."""

    replayed: int = 0
    invalid: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.replayed + self.invalid + self.failed


def _envelope(letter: DeadLetterRecord) -> dict[str, Any]:
    """The event in a dead letter's body; raises InvalidEvent saying why there is none."""
    try:
        document = decode_json(letter.raw_body)
    except ValueError as exc:
        raise InvalidEvent([ValidationIssue("$", f"the body is not valid JSON: {exc}")]) from exc
    if not isinstance(document, dict):
        raise InvalidEvent([ValidationIssue("$", f"the body is a JSON {type(document).__name__}, not an event object")])
    return document


async def _replay_one(
    store: EventStore, publisher: Publisher, letter: DeadLetterRecord, *, actor: str
) -> DeadLetterReplay:
    if letter.state is not DeadLetterState.OPEN:
        return DeadLetterReplay(letter.id, ReplayOutcome.NOT_OPEN, letter.event_id, f"it is {letter.state.value}")
    try:
        envelope = _envelope(letter)
        event_id = await publisher.publish_envelope(envelope, headers={Headers.REPLAY: f"dead-letter:{letter.id}"})
    except InvalidEvent as exc:
        return DeadLetterReplay(letter.id, ReplayOutcome.INVALID, letter.event_id, str(exc))
    except PublishFailed as exc:
        return DeadLetterReplay(letter.id, ReplayOutcome.FAILED, letter.event_id, exc.reason)
    try:
        await store.resolve_dead_letter(letter.id, actor=actor, replayed_event_id=event_id)
    except DeadLetterNotOpen as exc:  # changed by someone else while it was being published
        return DeadLetterReplay(letter.id, ReplayOutcome.NOT_OPEN, event_id, f"it is {exc.state.value}")
    return DeadLetterReplay(letter.id, ReplayOutcome.REPLAYED, event_id)


async def _open_letters(store: EventStore, filters: DeadLetterFilter, limit: int) -> list[DeadLetterRecord]:
    only_open = DeadLetterFilter(
        consumer=filters.consumer,
        event_type=filters.event_type,
        reason=filters.reason,
        since=filters.since,
        until=filters.until,
        state=DeadLetterState.OPEN,
    )
    letters: list[DeadLetterRecord] = []
    cursor: str | None = None
    while len(letters) < limit:
        page = await store.dead_letters(
            only_open, limit=min(limit - len(letters), 500), cursor=cursor, descending=False
        )
        letters.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return letters


async def replay_dead_letters(
    store: EventStore,
    publisher: Publisher,
    *,
    actor: str,
    ids: Iterable[str] | None = None,
    filters: DeadLetterFilter | None = None,
    limit: int = MAX_DEAD_LETTERS,
) -> list[DeadLetterReplay]:
    """Republish dead letters, given by ``ids`` or as the open ones matching ``filters`` (oldest first).

    Returns one outcome per dead letter, in order. Raises ``ValueError`` unless exactly one
    of ``ids`` and ``filters`` is given, and :class:`~bloodbank.BrokerUnavailable` when the
    broker cannot be reached (see the module docstring).
    """
    if not actor.strip():
        raise ValueError("actor must name who replays the dead letters")
    if (ids is None) == (filters is None):
        raise ValueError("give either ids or filters, not both and not neither")
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > limit:
            raise ValueError(f"at most {limit} dead letters can be replayed at once, got {len(wanted)}")
        results = []
        for letter_id in wanted:
            letter = await store.dead_letter(letter_id)
            if letter is None:
                results.append(DeadLetterReplay(letter_id, ReplayOutcome.NOT_FOUND))
            else:
                results.append(await _replay_one(store, publisher, letter, actor=actor))
        return results
    assert filters is not None  # noqa: S101 - checked above
    return [
        await _replay_one(store, publisher, letter, actor=actor)
        for letter in await _open_letters(store, filters, limit)
    ]


async def replay_events(
    store: EventStore,
    publisher: Publisher,
    filters: EventFilter,
    *,
    progress: Callable[[EventReplay], None] | None = None,
    page_size: int = 500,
) -> EventReplay:
    """Republish the stored events matching ``filters``, oldest first, a page at a time.

    ``progress`` is called after each page with the counts so far.
    Raises :class:`~bloodbank.BrokerUnavailable` when the broker cannot be reached or stops confirming.
    """
    replayed = invalid = failed = 0
    cursor: str | None = None
    headers = {Headers.REPLAY: EVENT_REPLAY_MARK}
    while True:
        page = await store.query(filters, limit=page_size, cursor=cursor)
        outcomes: list[PublishOutcome] = await publisher.publish_many(page.items, headers=headers) if page.items else []
        for outcome in outcomes:
            if outcome.status is PublishStatus.UNCONFIRMED:  # the broker went away: the next pages would wait too
                raise BrokerUnavailable(f"{outcome.error}; {replayed} events were replayed before it")
            if outcome.issues:
                invalid += 1
            elif outcome.error is not None:
                failed += 1
            else:
                replayed += 1
        if progress is not None:
            progress(EventReplay(replayed, invalid, failed))
        if page.next_cursor is None:
            return EventReplay(replayed, invalid, failed)
        cursor = page.next_cursor
