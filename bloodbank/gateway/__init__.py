"""The HTTP gateway of Bloodbank: publish events over HTTP, read the schema registry, probe health.

``app`` (the factory), ``events``, ``webhooks`` (GitHub and n8n intake) and ``health`` (the
routes), ``intake`` (short form and legacy envelopes to canonical ones), ``signatures``
(signed requests), ``errors`` (the one error shape), ``state`` (the bus and readiness while
it runs).
"""

from bloodbank.gateway.app import create_gateway

__all__ = ["create_gateway"]
