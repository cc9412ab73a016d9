"""The HTTP gateway of Bloodbank: publish events over HTTP, read the schema registry, probe health.

``app`` (the factory), ``events`` and ``health`` (the routes), ``intake`` (short form and
legacy envelopes to canonical ones), ``auth`` (API keys), ``errors`` (the one error shape),
``state`` (the bus and readiness while it runs).
"""

from bloodbank.gateway.app import create_gateway

__all__ = ["create_gateway"]
