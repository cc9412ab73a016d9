"""The RabbitMQ adapter of the transport port (aio-pika), the production engine.

Modules, one concept each: :mod:`.transport` (the connection and the port's methods),
:mod:`.topology` (declaring and checking exchanges and queues), :mod:`.publisher`
(publisher confirms), :mod:`.consumer` (a running consumer and its recovery),
:mod:`.delivery` (settling a received message), :mod:`.errors` (where aio-pika's
exceptions become Bloodbank's).
"""

from bloodbank.transport.rabbitmq.transport import RabbitMQTransport

__all__ = ["RabbitMQTransport"]
