"""Bloodbank's exceptions. Nothing above the transports sees an aio-pika, aiormq or sqlite error.

::

    BloodbankError
    ├── BrokerUnavailable          the broker cannot be reached (within the publish timeout); also a
    │                              gumdrop ServiceUnavailable, so a command exits 2 saying so
    ├── PublishFailed              the broker refused the message (nack, or returned unroutable without a catch)
    ├── TopologyMismatch           an existing queue or exchange was declared with other arguments
    └── PermanentFailure           raised by a handler: dead-letter the message now, do not retry

Invalid events raise :class:`holyfields.InvalidEvent` (a ``ValueError``) with every issue.
"""

from __future__ import annotations

from gumdrop.unavailable import ServiceUnavailable

__all__ = ["BloodbankError", "BrokerUnavailable", "PermanentFailure", "PublishFailed", "TopologyMismatch"]


class BloodbankError(Exception):
    """Base of every Bloodbank error."""


class BrokerUnavailable(BloodbankError, ServiceUnavailable):
    """The broker could not be reached, or did not answer within the timeout."""


class PublishFailed(BloodbankError):
    """The broker did not accept a message (negative confirm)."""

    def __init__(self, event_id: str, reason: str) -> None:
        self.event_id = event_id
        self.reason = reason
        super().__init__(f"event {event_id} was not accepted by the broker: {reason}")


class TopologyMismatch(BloodbankError):
    """An object of the topology is missing (when verifying) or exists with different arguments."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        super().__init__(
            f"{name!r} does not match the topology: {detail}. Declare it with `bloodbank topology`, or, when it "
            "exists with other arguments, drain and delete it (or fix the settings) first"
        )


class PermanentFailure(BloodbankError):
    """A handler's way to say a message can never succeed: it is dead-lettered at once, without retries."""
