"""The gateway's webhook intake: deliveries of other services, verified and published as the platform's events.

``routes`` (the routes and what every delivery goes through: the intake switch, the failed
authentication budget, idempotency, publishing, metrics), ``github`` (GitHub's signature,
headers and the ``github.*`` event of each delivery), ``n8n`` (the Standard Webhooks signature
of n8n's notifications and their ``n8n.*`` events), ``reading`` (typed reads of a body another
service wrote, every problem at its path).
"""

from bloodbank.gateway.webhooks.routes import webhook_routes

__all__ = ["webhook_routes"]
