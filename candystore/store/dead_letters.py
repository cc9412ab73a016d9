"""Writing dead letters: one row per message drained from ``dlq.all``, a redelivered one absorbed.

The keeper (:mod:`candystore.dead_letters`) reads the message; this module only turns a
:class:`DeadLetter` into a row. PostgreSQL's text and JSONB cannot hold U+0000, so a body
containing it is kept as base64 and the other texts have it replaced.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from candystore.store.schema import dead_letters

__all__ = ["DeadLetter", "DeadLetterState", "insert_dead_letters"]

_sorted_encoder = msgspec.json.Encoder(order="sorted")


class DeadLetterState(StrEnum):
    """Where a dead letter stands."""

    OPEN = "open"
    """Kept, waiting for someone to replay or discard it."""
    RESOLVED = "resolved"
    """Replayed to the main exchange."""
    DISCARDED = "discarded"
    """Discarded on purpose; kept for audit."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message from ``dlq.all``, with what its headers and body tell about the failure."""

    body: bytes
    routing_key: str
    headers: Mapping[str, Any]
    event_id: uuid.UUID | None = None
    consumer: str | None = None
    event_type: str | None = None
    error: str | None = None
    attempts: int | None = None
    failed_at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of body and headers: the same dead letter delivered twice has the same fingerprint."""
        digest = hashlib.sha256(self.body)
        digest.update(_sorted_encoder.encode(_json_safe(self.headers)))
        return digest.hexdigest()


def _text(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "\ufffd")


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Mapping):
        return {str(_json_safe(key)): _json_safe(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)  # a broker may hand over timestamps or decimals in headers


def _body(raw: bytes) -> tuple[str, str]:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return base64.b64encode(raw).decode(), "base64"
    return text, "utf-8"


def dead_letter_row(letter: DeadLetter, *, received_at: datetime) -> dict[str, Any]:
    """The ``dead_letters`` row of a letter, as a new open one."""
    body, encoding = _body(letter.body)
    return {
        "id": uuid.uuid4(),
        "event_id": letter.event_id,
        "consumer": _text(letter.consumer),
        "event_type": _text(letter.event_type),
        "error": _text(letter.error),
        "attempts": letter.attempts,
        "failed_at": letter.failed_at,
        "routing_key": _text(letter.routing_key),
        "headers": _json_safe(letter.headers),
        "body": body,
        "body_encoding": encoding,
        "state": DeadLetterState.OPEN.value,
        "received_at": received_at,
        "fingerprint": letter.fingerprint,
    }


async def insert_dead_letters(
    connection: AsyncConnection, letters: Sequence[DeadLetter], *, received_at: datetime
) -> int:
    """Insert letters not kept yet (by fingerprint); returns how many rows were added."""
    if not letters:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(dead_letters)
        .on_conflict_do_nothing(index_elements=[dead_letters.c.fingerprint])
        .returning(dead_letters.c.id)
    )
    rows = [dead_letter_row(letter, received_at=received_at) for letter in letters]
    return len((await connection.execute(statement, rows)).all())
