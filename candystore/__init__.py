"""Candystore: the 33GOD event store.

It keeps every envelope exactly as published, answers queries and causation
traces, and applies retention. The ingestor consumes the bus into the store in batches;
the dead-letter keeper drains ``dlq.all`` into it.
"""

from candystore.dead_letters import DeadLetterKeeper
from candystore.ingest import Ingestor
from candystore.settings import CandystoreSettings
from candystore.store import EventFilter, EventStore, Outcome, StoreResult

__all__ = [
    "CandystoreSettings",
    "DeadLetterKeeper",
    "EventFilter",
    "EventStore",
    "Ingestor",
    "Outcome",
    "StoreResult",
]
