"""``candystore dlq list / replay / discard``: work the dead letters from the shell."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from candystore.cli.common import EXIT_INVALID, bloodbank_settings, err, open_bus, open_store, out, settings
from candystore.cli.events import parse_moment, parse_type_pattern
from candystore.replay import DeadLetterReplay, ReplayOutcome, replay_dead_letters
from candystore.store.dead_letters import DeadLetterFilter, DeadLetterNotOpen, DeadLetterPage, DeadLetterState

__all__ = ["dlq"]

dlq = typer.Typer(help="Work the dead letters Candystore keeps from dlq.all.", no_args_is_help=True)

ConsumerOption = Annotated[str | None, typer.Option(help="Only letters given up by this consumer.")]
TypeOption = Annotated[
    str | None, typer.Option("--type", help="Event type or pattern: `*` one word, `#` zero or more (retail.#).")
]
ReasonOption = Annotated[str | None, typer.Option(help="A piece of the error text (case-insensitive).")]
SinceOption = Annotated[str | None, typer.Option(help="Received from this time (ISO 8601 with offset).")]
UntilOption = Annotated[str | None, typer.Option(help="Received before this time.")]


def _filters(
    *,
    consumer: str | None,
    event_type: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    state: DeadLetterState | None,
) -> DeadLetterFilter:
    return DeadLetterFilter(
        consumer=consumer,
        event_type=parse_type_pattern("--type", event_type),
        reason=reason,
        since=parse_moment("--since", since),
        until=parse_moment("--until", until),
        state=state,
    )


@dlq.command("list")
def list_letters(
    *,
    consumer: ConsumerOption = None,
    event_type: TypeOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    state: Annotated[DeadLetterState | None, typer.Option(help="open, resolved or discarded.")] = None,
    limit: Annotated[int, typer.Option(help="Letters to show at most (newest first).", min=1, max=1000)] = 50,
) -> None:
    """List dead letters, newest first, with why each failed."""
    page = asyncio.run(
        _list(
            _filters(consumer=consumer, event_type=event_type, reason=reason, since=since, until=until, state=state),
            limit,
        )
    )
    if not page.items:
        out.print("no dead letters match")
        return
    for letter in page.items:  # one line each, never cropped: ids are there to be copied
        attempts = letter.attempts if letter.attempts is not None else "?"
        out.print(
            f"{letter.id}  {letter.received_at.isoformat(timespec='seconds')}  {letter.state.value:<9}  "
            f"{letter.consumer or '?'}  {letter.event_type or '?'}  attempts {attempts}  {letter.error or ''}"
        )
    if page.next_cursor:
        err.print(f"more than {limit} match: narrow the filters or raise --limit")


async def _list(filters: DeadLetterFilter, limit: int) -> DeadLetterPage:
    async with open_store(settings()) as store:
        return await store.dead_letters(filters, limit=limit)


@dlq.command()
def replay(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Dead letters to replay; none: every open one matching.")
    ] = None,
    *,
    consumer: ConsumerOption = None,
    event_type: TypeOption = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    actor: Annotated[str, typer.Option(help="Who replays (kept for audit).")] = "cli",
) -> None:
    """Republish dead letters to the main exchange, marked as replays; each replayed one becomes resolved."""
    by_filter = not ids
    if by_filter and not any((consumer, event_type, reason, since, until)):
        err.print("name dead letters by id, or give a filter (--consumer, --type, --reason, --since, --until)")
        raise typer.Exit(EXIT_INVALID)
    filters = (
        _filters(
            consumer=consumer,
            event_type=event_type,
            reason=reason,
            since=since,
            until=until,
            state=DeadLetterState.OPEN,
        )
        if by_filter
        else None
    )
    results = asyncio.run(_replay(ids or None, filters, actor))
    for result in results:
        detail = f" as {result.event_id}" if result.event_id else ""
        out.print(f"{result.id}: {result.outcome.value}{detail}{f' ({result.reason})' if result.reason else ''}")
    replayed = sum(result.outcome is ReplayOutcome.REPLAYED for result in results)
    out.print(f"{replayed} of {len(results)} replayed")
    if replayed < len(results):
        raise typer.Exit(EXIT_INVALID)


async def _replay(ids: list[str] | None, filters: DeadLetterFilter | None, actor: str) -> list[DeadLetterReplay]:
    async with open_store(settings()) as store, open_bus(bloodbank_settings()) as bus:
        return await replay_dead_letters(store, bus.publisher, actor=actor, ids=ids, filters=filters)


@dlq.command()
def discard(
    letter_id: Annotated[str, typer.Argument(help="The dead letter to discard.")],
    reason: Annotated[str, typer.Option(help="Why it is discarded (kept for audit).")],
    actor: Annotated[str, typer.Option(help="Who discards it (kept for audit).")] = "cli",
) -> None:
    """Discard a dead letter on purpose; the row stays, with who and why."""
    if not reason.strip():
        err.print("--reason must say why the dead letter is discarded")
        raise typer.Exit(EXIT_INVALID)
    asyncio.run(_discard(letter_id, actor=actor, reason=reason))
    out.print(f"{letter_id}: discarded")


async def _discard(letter_id: str, *, actor: str, reason: str) -> None:
    async with open_store(settings()) as store:
        try:
            record = await store.discard_dead_letter(letter_id, actor=actor, reason=reason)
        except DeadLetterNotOpen as exc:
            err.print(str(exc))
            raise typer.Exit(EXIT_INVALID) from exc
        if record is None:
            err.print(f"no dead letter {letter_id}")
            raise typer.Exit(EXIT_INVALID)
