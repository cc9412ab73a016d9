"""RabbitMQ's flow control: whether the broker blocks a connection's publishing.

On a memory or disk alarm RabbitMQ blocks each connection as it publishes: it sends
``connection.blocked`` and stops reading from it until the alarm clears
(``connection.unblocked``). A connection that only consumes is never blocked, and one that
publishes learns of the alarm with its first publish, which then waits for its confirm
until its timeout. Readiness probes and the ``bloodbank_broker_blocked`` gauge read this
state to say why.

aiormq handles both frames itself and keeps the state in a private event of its
connection, cleared while blocked; it offers no callback. This module is the one place
that reads it; should an upgrade of aiormq rename it, the state reads as not blocked (a
warning says so once) and the transport's blocked-broker test fails.
"""

from __future__ import annotations

import asyncio
import functools

import structlog
from aio_pika.abc import AbstractConnection

__all__ = ["publishing_blocked"]

log = structlog.get_logger(__name__)

_UNBLOCKED = "_Connection__connection_unblocked"
"""aiormq's ``Connection.__connection_unblocked`` (name-mangled): set unless the broker blocked the connection."""


def publishing_blocked(connection: AbstractConnection) -> bool:
    """Whether RabbitMQ has blocked ``connection`` (sent ``connection.blocked`` and not yet ``unblocked``)."""
    underlay = connection.transport
    if underlay is None:  # not connected: nothing is blocked, the connection is simply down
        return False
    unblocked = getattr(underlay.connection, _UNBLOCKED, None)
    if not isinstance(unblocked, asyncio.Event):
        _warn_unreadable()
        return False
    return not unblocked.is_set()


@functools.cache
def _warn_unreadable() -> None:
    log.warning(
        "cannot tell whether RabbitMQ blocks publishing: aiormq's connection has no such event any more; "
        "update bloodbank.transport.rabbitmq.blocking to the installed aiormq",
        attribute=_UNBLOCKED,
    )
