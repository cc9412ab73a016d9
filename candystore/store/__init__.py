"""Candystore's storage layer: tables, migrations and the :class:`EventStore` repository."""

from candystore.store.dead_letters import DeadLetter, DeadLetterState
from candystore.store.engine import create_autocommit_engine, create_engine
from candystore.store.errors import DatabaseUnavailable, InvalidCursor, RecordRejected, StoreError
from candystore.store.queries import EventFilter, Page
from candystore.store.repository import EventStore
from candystore.store.trace import Trace, TraceEdge, TraceNode
from candystore.store.writes import Outcome, StoreResult

__all__ = [
    "DatabaseUnavailable",
    "DeadLetter",
    "DeadLetterState",
    "EventFilter",
    "EventStore",
    "InvalidCursor",
    "Outcome",
    "Page",
    "RecordRejected",
    "StoreError",
    "StoreResult",
    "Trace",
    "TraceEdge",
    "TraceNode",
    "create_autocommit_engine",
    "create_engine",
]
