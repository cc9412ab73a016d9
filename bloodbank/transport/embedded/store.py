"""The embedded broker's state in SQLite: queues, bindings and messages, and the SQL that moves them.

The exchanges of design.md are not rows: their routing is fixed here. The main exchange
routes by the ``bindings`` table (topic patterns) and falls back to ``unrouted.all``; the
dead-letter exchange routes everything to ``dlq.all``; the default exchange routes to the
queue named by the routing key. A retry queue is modelled by ``available_at``: a retried
message waits in its consumer queue until its delay has passed.

Every method runs on the store's own thread (:mod:`.worker`), inside a transaction that
thread opens and commits; nothing here commits or awaits.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from bloodbank.errors import BloodbankError, BrokerUnavailable, TopologyMismatch
from bloodbank.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    MAIN_EXCHANGE,
    UNROUTED_EXCHANGE,
    UNROUTED_QUEUE,
    Headers,
    matches,
)
from bloodbank.transport.base import HeaderValue, OutgoingMessage, PublishResult, PublishStatus

__all__ = ["IN_MEMORY", "SHARED_QUEUE_ARGUMENTS", "Fetched", "Published", "QueueCounts", "Store", "StoredMessage"]

IN_MEMORY = ":memory:"
SCHEMA_VERSION = 1
SHARED_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
"""Arguments of ``unrouted.all`` and ``dlq.all``."""

_SCHEMA = """
CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    arguments TEXT NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0  -- messages not in flight, kept by the triggers below
);
CREATE TABLE bindings (
    queue TEXT NOT NULL REFERENCES queues (name),
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    routing_key TEXT NOT NULL,
    message_id TEXT,
    headers TEXT NOT NULL DEFAULT '{}',
    available_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_ready ON messages (queue, in_flight, available_at, id);

CREATE TRIGGER message_added AFTER INSERT ON messages WHEN NEW.in_flight = 0
BEGIN UPDATE queues SET ready = ready + 1 WHERE name = NEW.queue; END;
CREATE TRIGGER message_removed AFTER DELETE ON messages WHEN OLD.in_flight = 0
BEGIN UPDATE queues SET ready = ready - 1 WHERE name = OLD.queue; END;
CREATE TRIGGER message_left AFTER UPDATE OF queue, in_flight ON messages WHEN OLD.in_flight = 0
BEGIN UPDATE queues SET ready = ready - 1 WHERE name = OLD.queue; END;
CREATE TRIGGER message_arrived AFTER UPDATE OF queue, in_flight ON messages WHEN NEW.in_flight = 0
BEGIN UPDATE queues SET ready = ready + 1 WHERE name = NEW.queue; END;
"""

_INSERT = "INSERT INTO messages (queue, body, routing_key, message_id, headers, available_at) VALUES (?, ?, ?, ?, ?, ?)"
_SELECT_READY = (
    "SELECT id, body, routing_key, message_id, headers, delivery_count FROM messages"
    " WHERE queue = ? AND in_flight = 0 AND available_at <= ? ORDER BY available_at, id LIMIT ?"
)
_SELECT_NEXT_DUE = (
    "SELECT available_at FROM messages WHERE queue = ? AND in_flight = 0 AND available_at > ?"
    " ORDER BY available_at LIMIT 1"
)
_SELECT_WAITING = (
    "SELECT json_extract(headers, '$.\"x-bloodbank-attempts\"') AS attempts, count(*) FROM messages"
    " WHERE queue = ? AND in_flight = 0 AND available_at > ? GROUP BY attempts"
)
"""Retried messages waiting for their delay, by the attempts their consumer made (tier N after attempt N)."""
_MARK_IN_FLIGHT = "UPDATE messages SET in_flight = 1, delivery_count = delivery_count + 1 WHERE id = ?"
_MOVE = (
    "UPDATE messages SET queue = ?, routing_key = ?, headers = ?, available_at = ?, delivery_count = 0, in_flight = 0"
    " WHERE id = ?"
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message taken from a queue: it is in flight until settled."""

    id: int
    body: bytes
    routing_key: str
    message_id: str | None
    headers: dict[str, Any]
    delivery_count: int
    """Deliveries so far, this one included; more than one means redelivered."""


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A queue's messages: ready now, in flight, and waiting out a retry delay (by attempts so far)."""

    ready: int
    in_flight: int
    waiting: dict[int, int]


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish did: each message's result (stored and whether a binding took it, or refused), queues fed."""

    results: list[PublishResult]
    queues: frozenset[str]


class _Refused(Exception):
    """One message goes nowhere; the others of its batch go on."""

    def __init__(self, status: PublishStatus, reason: str) -> None:
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fetched:
    """Messages taken from a queue, how many were dead-lettered instead, and when the next delayed one is due."""

    messages: list[StoredMessage]
    dead_lettered: int
    next_due: float | None


class Store:
    """Queues, bindings and messages of one embedded broker, in one SQLite connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        # Caches of the topology tables; forget_topology() drops them whenever a transaction rolls back.
        self._queues: dict[str, dict[str, Any]] | None = None
        self._bindings: list[tuple[str, str]] | None = None
        self._routes: dict[str, tuple[str, ...]] = {}

    @classmethod
    def open(cls, location: str) -> tuple[Store, int]:
        """Open (or create) the database; messages left in flight by a previous process become ready again.

        Returns the store and how many messages were recovered that way.
        """
        connection = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
        try:
            if location != IN_MEMORY:
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            _migrate(connection, location)
            # delivery_count stays, so the next delivery says redelivered; by queue, to use the index
            recovered = connection.execute(
                "UPDATE messages SET in_flight = 0 WHERE queue IN (SELECT name FROM queues) AND in_flight = 1"
            ).rowcount
        except BaseException:
            connection.close()
            raise
        return cls(connection), recovered

    def forget_topology(self) -> None:
        self._queues = None
        self._bindings = None
        self._routes = {}

    # --- topology ------------------------------------------------------------------------

    def queue_arguments(self, name: str) -> dict[str, Any] | None:
        return self._queue_table().get(name)

    def declare_queue(self, name: str, arguments: Mapping[str, Any], *, verify_only: bool) -> None:
        existing = self.queue_arguments(name)
        if existing is None:
            if verify_only:
                raise TopologyMismatch(name, "the queue does not exist; declare it (`bloodbank topology`)")
            self.connection.execute(
                "INSERT INTO queues (name, arguments) VALUES (?, ?)", (name, json.dumps(arguments, sort_keys=True))
            )
            self.forget_topology()
        elif existing != arguments:
            raise TopologyMismatch(name, describe_difference(existing, arguments))

    def declare_bindings(self, queue: str, patterns: Sequence[str], *, verify_only: bool) -> None:
        bound = {pattern for name, pattern in self._binding_table() if name == queue}
        missing = [pattern for pattern in patterns if pattern not in bound]
        if not missing:
            return
        if verify_only:
            raise TopologyMismatch(queue, f"bindings {missing} to {MAIN_EXCHANGE!r} do not exist")
        self.connection.executemany(
            "INSERT INTO bindings (queue, pattern) VALUES (?, ?)", [(queue, pattern) for pattern in missing]
        )
        self.forget_topology()

    def ready_count(self, queue: str) -> int:
        row = self.connection.execute("SELECT ready FROM queues WHERE name = ?", (queue,)).fetchone()
        if row is None:
            raise BloodbankError(f"queue {queue!r} does not exist; declare it first (`bloodbank topology`)")
        return int(row[0])

    def message_counts(self, queue: str) -> tuple[int, int]:
        """Messages of ``queue`` ready and in flight (delivered, not settled)."""
        ready = self.ready_count(queue)
        (in_flight,) = self.connection.execute(
            "SELECT count(*) FROM messages WHERE queue = ? AND in_flight = 1", (queue,)
        ).fetchone()
        return ready, int(in_flight)

    def consumer_queues(self) -> dict[str, dict[str, Any]]:
        """The consumer queues (those dead-lettering to ``dlq.{name}``) and their arguments."""
        return {
            name: arguments
            for name, arguments in self._queue_table().items()
            if arguments.get("x-dead-letter-routing-key") == f"dlq.{name}"
        }

    def waiting_counts(self, queue: str) -> QueueCounts:
        """Messages of ``queue`` ready now, in flight, and waiting out a retry delay by attempts so far."""
        ready, in_flight = self.message_counts(queue)
        rows = self.connection.execute(_SELECT_WAITING, (queue, time.time())).fetchall()
        waiting = {int(attempts or 0): int(count) for attempts, count in rows}
        return QueueCounts(ready=ready - sum(waiting.values()), in_flight=in_flight, waiting=waiting)

    # --- publishing ----------------------------------------------------------------------

    def publish(self, messages: Sequence[OutgoingMessage]) -> Published:
        """Store a copy of each message in each queue it routes to; a message that cannot go everywhere is refused.

        As on RabbitMQ, a refusal is the message's own: the others of the batch are stored.
        """
        now = time.time()
        rows: list[tuple[str, bytes, str, str, str, float]] = []
        results: list[PublishResult] = []
        room: dict[str, float] = {}  # queue -> how many more it takes in this batch
        for message in messages:
            try:
                queues, routed = self._destinations(message)
                left = self._room_left(queues, room)
            except _Refused as refused:
                results.append(PublishResult.failed(message.message_id, refused.status, refused.reason))
                continue
            headers = _encode(message.headers)
            for queue in queues:
                room[queue] = left[queue] - 1
                rows.append((queue, message.body, message.routing_key, message.message_id, headers, now))
            results.append(PublishResult(message.message_id, routed))
        self.connection.executemany(_INSERT, rows)
        return Published(results, frozenset(room))

    def _destinations(self, message: OutgoingMessage) -> tuple[tuple[str, ...], bool]:
        exchange, key = message.exchange, message.routing_key
        if exchange in (None, MAIN_EXCHANGE):
            bound = self._route(key)
            if bound:
                return bound, True
            return self._existing(UNROUTED_QUEUE, f"no queue is bound to {key!r}"), False
        if exchange == DEAD_LETTER_EXCHANGE:
            return self._existing(DEAD_LETTER_QUEUE, "it was sent to the dead-letter exchange"), True
        if exchange == UNROUTED_EXCHANGE:
            return self._existing(UNROUTED_QUEUE, "it was sent to the unroutable exchange"), True
        if exchange == "":
            if key not in self._queue_table():
                raise _Refused(PublishStatus.RETURNED, f"no queue is named {key!r} (default exchange)")
            return (key,), True
        raise _Refused(
            PublishStatus.NACKED,
            f"unknown exchange {exchange!r}; the embedded broker has {MAIN_EXCHANGE!r}, "
            f"{DEAD_LETTER_EXCHANGE!r}, {UNROUTED_EXCHANGE!r} and the default exchange ''",
        )

    def _room_left(self, queues: Sequence[str], room: Mapping[str, float]) -> dict[str, float]:
        """How many more messages each of ``queues`` takes; refused when one of them takes none."""
        left = {queue: room[queue] if queue in room else self._room(queue) for queue in queues}
        full = next((queue for queue, count in left.items() if count <= 0), None)
        if full is not None:
            limit = self._queue_table()[full]["x-max-length"]
            raise _Refused(
                PublishStatus.NACKED, f"queue {full!r} is full ({limit} messages, x-overflow reject-publish)"
            )
        return left

    def _existing(self, queue: str, why: str) -> tuple[str]:
        if queue not in self._queue_table():
            raise _Refused(
                PublishStatus.NACKED, f"{why} and {queue!r} does not exist; declare the topology (`bloodbank topology`)"
            )
        return (queue,)

    def _route(self, routing_key: str) -> tuple[str, ...]:
        route = self._routes.get(routing_key)
        if route is None:
            route = tuple(sorted({queue for queue, pattern in self._binding_table() if matches(pattern, routing_key)}))
            self._routes[routing_key] = route
        return route

    def _room(self, queue: str) -> float:
        limit = self._queue_table()[queue].get("x-max-length")
        if limit is None:
            return float("inf")
        return int(limit) - self.ready_count(queue)

    # --- consuming -----------------------------------------------------------------------

    def fetch(self, queue: str, limit: int) -> Fetched:
        """Take up to ``limit`` ready messages, oldest first; dead-letter those past the queue's delivery limit."""
        now = time.time()
        rows = self.connection.execute(_SELECT_READY, (queue, now, limit)).fetchall()
        arguments = self._queue_table().get(queue, {})
        delivery_limit = arguments.get("x-delivery-limit")
        messages: list[StoredMessage] = []
        exhausted = 0
        for row_id, body, routing_key, message_id, headers, delivery_count in rows:
            if delivery_limit is not None and delivery_count > delivery_limit:
                # Like a quorum queue: returned more often than the limit allows.
                exhausted += 1
                reason = {
                    Headers.ERROR: "delivery limit exceeded",
                    Headers.CONSUMER: queue,
                    Headers.ATTEMPTS: delivery_count,
                    Headers.FAILED_AT: datetime.fromtimestamp(now, UTC).isoformat(),
                }
                routing = arguments.get("x-dead-letter-routing-key", routing_key)
                self.dead_letter(row_id, routing_key=routing, headers={**_decode(headers), **reason})
            else:
                messages.append(
                    StoredMessage(row_id, body, routing_key, message_id, _decode(headers), delivery_count + 1)
                )
        self.connection.executemany(_MARK_IN_FLIGHT, [(message.id,) for message in messages])
        next_due = None
        if len(rows) < limit:
            due = self.connection.execute(_SELECT_NEXT_DUE, (queue, now)).fetchone()
            next_due = None if due is None else float(due[0])
        return Fetched(messages, exhausted, next_due)

    def ack(self, message: int) -> None:
        self.connection.execute("DELETE FROM messages WHERE id = ?", (message,))

    def release(self, messages: Sequence[int]) -> None:
        self.connection.executemany("UPDATE messages SET in_flight = 0 WHERE id = ?", [(id_,) for id_ in messages])

    def retry(self, message: int, *, delay: float, headers: Mapping[str, Any]) -> None:
        """Ready again after ``delay``, as a new message of the queue (a retry queue dead-letters it back)."""
        self.connection.execute(
            "UPDATE messages SET in_flight = 0, delivery_count = 0, available_at = ?, headers = ? WHERE id = ?",
            (time.time() + delay, _encode(headers), message),
        )

    def dead_letter(self, message: int, *, routing_key: str, headers: Mapping[str, Any]) -> None:
        if DEAD_LETTER_QUEUE not in self._queue_table():
            raise BloodbankError(
                f"cannot dead-letter message {message}: {DEAD_LETTER_QUEUE!r} does not exist; "
                "declare the topology (`bloodbank topology`)"
            )
        self.connection.execute(_MOVE, (DEAD_LETTER_QUEUE, routing_key, _encode(headers), time.time(), message))

    # --- caches --------------------------------------------------------------------------

    def _queue_table(self) -> dict[str, dict[str, Any]]:
        if self._queues is None:
            rows = self.connection.execute("SELECT name, arguments FROM queues").fetchall()
            self._queues = {name: json.loads(arguments) for name, arguments in rows}
        return self._queues

    def _binding_table(self) -> list[tuple[str, str]]:
        if self._bindings is None:
            self._bindings = [(queue, pattern) for queue, pattern in self.connection.execute("SELECT * FROM bindings")]
        return self._bindings


def describe_difference(existing: Mapping[str, Any], declared: Mapping[str, Any]) -> str:
    """``x-max-length is 10, declared 20; x-delivery-limit is unset, declared 5``."""
    differences = []
    for key in sorted(existing.keys() | declared.keys()):
        old, new = existing.get(key), declared.get(key)
        if old != new or (key in existing) != (key in declared):
            differences.append(f"{key} is {_show(key, existing)}, declared {_show(key, declared)}")
    return "; ".join(differences)


def _show(key: str, arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments[key]) if key in arguments else "unset"


def _migrate(connection: sqlite3.Connection, location: str) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version != 0:
        raise BrokerUnavailable(
            f"{location} has schema version {version}, this Bloodbank knows {SCHEMA_VERSION}; "
            "upgrade Bloodbank or use another file"
        )
    connection.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")


def _encode(headers: Mapping[str, HeaderValue] | Mapping[str, Any]) -> str:
    # msgspec rather than json: every signed message has headers, and this is per message.
    return _HEADERS_ENCODER.encode(dict(headers)).decode() if headers else "{}"


def _decode(headers: str) -> dict[str, Any]:
    return {} if headers == "{}" else dict(_HEADERS_DECODER.decode(headers))


_HEADERS_ENCODER = msgspec.json.Encoder()
_HEADERS_DECODER = msgspec.json.Decoder(dict[str, Any])
