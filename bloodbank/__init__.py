"""Bloodbank: the 33GOD event bus on RabbitMQ (or an embedded SQLite broker).

Publish validated events with confirms, consume them with retries, dead letters,
idempotency and correlation, and accept them over HTTP through the gateway.
"""

from bloodbank.bus import Bus, create_transport
from bloodbank.consumer import Event, EventHandler, subscribe
from bloodbank.envelope import build_envelope, current_event_id, timestamp_text, uuid7
from bloodbank.errors import BloodbankError, BrokerUnavailable, PermanentFailure, PublishFailed, TopologyMismatch
from bloodbank.legacy import upgrade_legacy_envelope
from bloodbank.publisher import Publisher, PublishOutcome, PublishStatus
from bloodbank.settings import BloodbankSettings
from bloodbank.topology import ConsumerSpec

__all__ = [
    "BloodbankError",
    "BloodbankSettings",
    "BrokerUnavailable",
    "Bus",
    "ConsumerSpec",
    "Event",
    "EventHandler",
    "PermanentFailure",
    "PublishFailed",
    "PublishOutcome",
    "PublishStatus",
    "Publisher",
    "TopologyMismatch",
    "build_envelope",
    "create_transport",
    "current_event_id",
    "subscribe",
    "timestamp_text",
    "upgrade_legacy_envelope",
    "uuid7",
]
