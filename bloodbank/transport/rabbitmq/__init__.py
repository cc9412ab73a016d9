"""The RabbitMQ adapter of the transport port (aio-pika), the production engine.

Modules, one concept each: :mod:`.transport` (the connection and the port's methods),
:mod:`.topology` (declaring and checking exchanges and queues), :mod:`.publisher`
(publisher confirms, and which path a publish takes), :mod:`.frame_coalescer` (the
publishes of one event-loop turn in one socket write), :mod:`.wire` (the aiormq and
pamqp internals that fast path relies on, and the check of their shape),
:mod:`.consumer` (a running consumer and its recovery), :mod:`.delivery` (settling a
received message), :mod:`.acks` (acknowledgements of one turn in one frame),
:mod:`.blocking` (whether the broker blocks publishing), :mod:`.errors` (where
aio-pika's exceptions become Bloodbank's).
"""

from bloodbank.transport.rabbitmq.transport import RabbitMQTransport

__all__ = ["RabbitMQTransport"]
