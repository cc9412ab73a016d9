"""The embedded broker: Bloodbank's transport in one process, durable in SQLite, with RabbitMQ's behaviour.

``transport``  :class:`EmbeddedTransport`, the adapter of :mod:`bloodbank.transport.base`
``store``      the SQLite tables (queues, bindings, messages) and the SQL that routes and moves messages
``worker``     the thread that owns the connection and commits many operations per transaction
``consumer``   the fetch loop, its deliveries and their settlement
``tail``       in-memory copies of live events
``lock``       one process per database file
"""

from bloodbank.transport.embedded.transport import EmbeddedTransport

__all__ = ["EmbeddedTransport"]
