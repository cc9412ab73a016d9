"""The demo's way in and out over HTTP: GitHub deliveries signed as GitHub signs them, and a receiver.

With ``33god up --demo``, every pull request of the demo enters through the gateway's
``POST /webhooks/github`` as a signed delivery (its workflow runs follow on the bus, naming
it as their parent), and the demo subscription delivers every ``github.*`` event to
:class:`DeliveryReceiver`, which checks each Standard Webhooks signature and logs what came.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from typing import Any

import httpx2 as httpx
import msgspec
import structlog
from fastapi import FastAPI, Request, Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bloodbank import timestamp_text

__all__ = ["RECEIVER_PATH", "DeliveryReceiver", "GithubDeliveries", "pull_request_opened"]

log = structlog.get_logger(__name__)

RECEIVER_PATH = "/deliveries"
"""Where the demo receiver takes deliveries."""

_AUTHORS = ("octocat", "mona", "hubot")


def pull_request_opened(rng: random.Random, *, repository: str, number: int, sha: str) -> dict[str, Any]:
    """A ``pull_request`` delivery with action ``opened``: the fields of GitHub's body the gateway reads."""
    author = rng.choice(_AUTHORS)
    owner, name = repository.split("/")
    return {
        "action": "opened",
        "number": number,
        "pull_request": {
            "number": number,
            "title": rng.choice(("Retry deliveries with jitter", "Trace the webhook intake", "Faster header frames")),
            "user": {"login": author, "type": "User"},
            "body": "Demo pull request.",
            "state": "open",
            "draft": rng.random() < 0.2,  # noqa: PLR2004 - demo share
            "head": {"ref": f"{author}/change-{number}", "sha": sha},
            "base": {"ref": "main", "sha": "".join(rng.choices("0123456789abcdef", k=40))},
            "additions": rng.randint(1, 400),
            "deletions": rng.randint(0, 200),
            "changed_files": rng.randint(1, 20),
            "html_url": f"https://github.com/{repository}/pull/{number}",
            "created_at": timestamp_text(),
        },
        "repository": {"name": name, "full_name": repository, "owner": {"login": owner}, "private": False},
        "sender": {"login": author, "type": "User"},
    }


class GithubDeliveries:
    """Posts deliveries to a gateway's ``/webhooks/github`` with the headers GitHub sends, signed with ``secret``."""

    def __init__(self, gateway_url: str, secret: str, client: httpx.AsyncClient) -> None:
        self.url = f"{gateway_url}/webhooks/github"
        self.secret = secret.encode()
        self.client = client

    async def send(self, event: str, body: dict[str, Any]) -> str:
        """The event id the gateway answered (202, once the broker confirmed); raises on any other answer."""
        raw = msgspec.json.encode(body)
        signature = hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "user-agent": "GitHub-Hookshot/demo",
            "x-github-event": event,
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": f"sha256={signature}",
        }
        response = await self.client.post(self.url, content=raw, headers=headers)
        response.raise_for_status()
        event_id: str = response.json()["event_id"]
        return event_id


class DeliveryReceiver:
    """A target for the demo subscription: verifies each delivery's signature and logs it."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.received = 0
        self.app = FastAPI(title="demo delivery receiver", docs_url=None, redoc_url=None, openapi_url=None)
        self.app.add_api_route(RECEIVER_PATH, self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            self.webhook.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            log.warning("demo receiver refused a delivery", reason=str(exc))
            return Response(status_code=401)
        event = msgspec.json.decode(body)
        self.received += 1
        log.info(
            "demo receiver got a delivery",
            event_type=event.get("event_type"),
            event_id=request.headers.get("webhook-id"),
            received=self.received,
        )
        return Response(status_code=204)
