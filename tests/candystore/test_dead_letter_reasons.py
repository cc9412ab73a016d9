"""Open dead letters counted by consumer and reason, on each store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from candystore.store.dead_letter_reasons import UNKNOWN_REASON, DeadLetterReason
from candystore.store.dead_letters import DeadLetter


def letter(consumer: str | None, error: str | None, marker: int) -> DeadLetter:
    return DeadLetter(body=b"{}", routing_key="dlq.x", headers={"n": marker}, consumer=consumer, error=error)


async def test_reasons_are_the_errors_up_to_the_first_colon_open_ones_only(store) -> None:
    """An error's reason is its text up to the first colon (all of it without one); closed letters are not counted."""
    await store.keep_dead_letters(
        [
            letter("pricing", "RuntimeError: boom", 1),
            letter("pricing", "RuntimeError: a: b: c", 2),
            letter("pricing", " TimeoutError : slow", 3),
            letter("pricing", "delivery limit exceeded", 4),
            letter("pricing", None, 5),
            letter("pricing", "", 6),
            letter(None, "unrouted: no queue is bound", 7),
            letter("stock", "RuntimeError: boom", 8),
            letter("stock", "KeyError: 'sku'", 9),
        ]
    )
    rows = {row.headers["n"]: row.id for row in (await store.dead_letters(limit=100)).items}
    await store.discard_dead_letter(rows[9], actor="ops", reason="test data")

    assert await store.open_dead_letter_reasons() == [
        DeadLetterReason("pricing", "RuntimeError", 2),
        DeadLetterReason("pricing", UNKNOWN_REASON, 2),
        DeadLetterReason(None, "unrouted", 1),
        DeadLetterReason("pricing", "TimeoutError", 1),
        DeadLetterReason("pricing", "delivery limit exceeded", 1),
        DeadLetterReason("stock", "RuntimeError", 1),
    ]
