"""Candystore: the 33GOD event store.

It keeps every envelope exactly as published, answers queries and causation
traces, and applies retention. The ingestor consumes the bus into the store in batches;
the dead-letter keeper drains ``dlq.all`` into it. The API (:func:`create_api`) serves
queries, traces, statistics, dead letters and the live stream fed by a :class:`LiveHub`;
:mod:`candystore.replay` republishes dead letters and stored events.
"""

from candystore.api import create_api
from candystore.dead_letters import DeadLetterKeeper
from candystore.ingest import Ingestor
from candystore.live import LiveHub, LiveSubscriber, SubscriberDropped
from candystore.replay import DeadLetterReplay, EventReplay, ReplayOutcome, replay_dead_letters, replay_events
from candystore.settings import CandystoreSettings
from candystore.store import EventFilter, EventStore, Outcome, StoreResult
from candystore.store.dead_letters import DeadLetterFilter, DeadLetterNotOpen, DeadLetterRecord, DeadLetterState
from candystore.store.stats import Stats

__all__ = [
    "CandystoreSettings",
    "DeadLetterFilter",
    "DeadLetterKeeper",
    "DeadLetterNotOpen",
    "DeadLetterRecord",
    "DeadLetterReplay",
    "DeadLetterState",
    "EventFilter",
    "EventReplay",
    "EventStore",
    "Ingestor",
    "LiveHub",
    "LiveSubscriber",
    "Outcome",
    "ReplayOutcome",
    "Stats",
    "StoreResult",
    "SubscriberDropped",
    "create_api",
    "replay_dead_letters",
    "replay_events",
]
