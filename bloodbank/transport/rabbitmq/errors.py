"""The boundary where aio-pika and aiormq exceptions become Bloodbank's.

Nothing outside this package sees an aiormq or aio-pika exception::

    no answer in time, connection lost, channel gone     -> BrokerUnavailable
    PRECONDITION_FAILED (406) or NOT_FOUND (404) declaring -> TopologyMismatch   (topology.py)
    basic.nack, basic.return, NOT_FOUND publishing         -> PublishFailed      (publisher.py)
    any other refusal (ACCESS_REFUSED, ...)                -> BloodbankError
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiormq.exceptions

from bloodbank.errors import BloodbankError, BrokerUnavailable

__all__ = ["CONNECTION_LOST", "broker_call", "broker_text", "translate"]

CONNECTION_LOST: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)
"""Exceptions that mean the connection or the channel is gone, not that the broker refused something."""


def broker_text(exc: BaseException) -> str:
    """The broker's own words (``PRECONDITION_FAILED - inequivalent arg ...``), else the exception's."""
    for arg in exc.args:
        if isinstance(arg, str) and arg:
            return arg
    return str(exc) or type(exc).__name__


def translate(exc: BaseException, operation: str) -> BloodbankError | None:
    """What a broker exception means for Bloodbank; ``None`` when it is not one (a bug, a cancellation)."""
    if isinstance(exc, BloodbankError):
        return exc
    if isinstance(exc, TimeoutError):
        return BrokerUnavailable(f"{operation}: RabbitMQ did not answer in time")
    # A bare ChannelClosed (no reply code) is a channel closed under us, not a refusal.
    if isinstance(exc, CONNECTION_LOST) or type(exc) is aiormq.exceptions.ChannelClosed:
        return BrokerUnavailable(f"{operation}: the connection to RabbitMQ is lost ({broker_text(exc)})")
    if isinstance(exc, aiormq.exceptions.AMQPError):
        return BloodbankError(f"{operation}: RabbitMQ refused it: {broker_text(exc)}")
    return None


@asynccontextmanager
async def broker_call(operation: str, *, timeout: float) -> AsyncIterator[None]:
    """Bound the broker calls inside by ``timeout`` and translate what they raise (``operation`` names them)."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError as exc:
        raise BrokerUnavailable(f"{operation}: RabbitMQ did not answer within {timeout:g} s") from exc
    except Exception as exc:
        translated = translate(exc, operation)
        if translated is None or translated is exc:
            raise
        raise translated from exc
