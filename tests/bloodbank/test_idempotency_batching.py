"""The local idempotency store: answers from memory while everything live fits there, else from the file.

From the file, the questions of one turn are answered by one query, each with its own answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bloodbank.idempotency import LocalIdempotencyStore
from tests.bloodbank.waiting import eventually


async def test_questions_asked_together_get_their_own_answers(tmp_path: Path) -> None:
    """Ids handled before a restart, per consumer, are found among many asked at once; the others are not."""
    path = tmp_path / "handled.sqlite3"
    first = LocalIdempotencyStore(path, ttl=3600)
    handled = {("store", f"e{n}") for n in range(0, 1200, 3)} | {("audit", f"e{n}") for n in range(0, 1200, 5)}
    for consumer, event_id in handled:
        await first.remember(consumer, event_id)
    await first.close()

    again = LocalIdempotencyStore(path, ttl=3600, recent=100)  # too many to hold: the answers come from the file
    try:
        questions = [(consumer, f"e{n}") for consumer in ("store", "audit") for n in range(1200)]
        answers = await asyncio.gather(*(again.seen(consumer, event_id) for consumer, event_id in questions))
        assert {question for question, seen in zip(questions, answers, strict=True) if seen} == handled
    finally:
        await again.close()


async def test_expired_entries_are_not_seen_when_asked_together(tmp_path: Path) -> None:
    """An id remembered longer ago than the TTL counts as new, also in a batch of questions."""
    path = tmp_path / "handled.sqlite3"
    first = LocalIdempotencyStore(path, ttl=3600)
    await first.remember("store", "old")
    await first.close()

    short = LocalIdempotencyStore(path, ttl=1)
    try:
        await asyncio.sleep(1.1)
        answers = await asyncio.gather(short.seen("store", "old"), short.seen("store", "never"))
        assert list(answers) == [False, False]
    finally:
        await short.close()


async def test_a_cancelled_question_does_not_disturb_the_others(tmp_path: Path) -> None:
    """A caller that stops waiting leaves the answers of the others in the same batch intact."""
    path = tmp_path / "handled.sqlite3"
    first = LocalIdempotencyStore(path, ttl=3600)
    await first.remember("store", "known")
    await first.close()

    store = LocalIdempotencyStore(path, ttl=3600, recent=0)  # nothing held in memory: questions go to the file
    try:
        abandoned = asyncio.ensure_future(store.seen("store", "known"))
        kept = asyncio.ensure_future(store.seen("store", "known"))
        await asyncio.sleep(0)  # both questions are asked, in one batch
        abandoned.cancel()
        assert await asyncio.wait_for(kept, timeout=5) is True
    finally:
        await store.close()


async def test_after_a_restart_memory_holds_what_fits(tmp_path: Path) -> None:
    """A reopened store that can hold every live entry answers from memory, and the same as the file would."""
    path = tmp_path / "handled.sqlite3"
    first = LocalIdempotencyStore(path, ttl=3600)
    for n in range(50):
        await first.remember("store", f"e{n}")
    await first.close()

    held = LocalIdempotencyStore(path, ttl=3600, recent=1000)
    from_file = LocalIdempotencyStore(path, ttl=3600, recent=10)
    try:
        questions = [f"e{n}" for n in range(100)]
        in_memory = await asyncio.gather(*(held.seen("store", event_id) for event_id in questions))
        on_disk = await asyncio.gather(*(from_file.seen("store", event_id) for event_id in questions))
        assert in_memory == on_disk == [n < 50 for n in range(100)]
    finally:
        await held.close()
        await from_file.close()


async def test_an_entry_pushed_out_of_memory_is_still_found(tmp_path: Path) -> None:
    """Once more entries were remembered than memory holds, the oldest is still found, in the file."""
    store = LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600, recent=10, flush_interval=0.001)
    try:
        for n in range(30):
            await store.remember("store", f"e{n}")
        await eventually(lambda: store.seen("store", "e0"))  # once the batched write reached the file
        assert not await store.seen("store", "e30")
    finally:
        await store.close()
