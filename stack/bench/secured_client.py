"""The secured side of ``33god bench gateway``: one client with a key, a webhook secret and a rate, and its requests.

The gateway it calls reads the client from a keys file (``require_signature: true``, a rate far
above what the benchmark reaches, so that the buckets are checked but never refuse) and signs
every bus message (``BLOODBANK_SIGNING_KEYS``). The client's requests are signed beforehand,
Standard Webhooks, each with an id of its own and the current time: the signing stays out of
the measured time, and no request is a replay.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import cycle, islice
from pathlib import Path

import yaml
from standardwebhooks import Webhook

from gumdrop.access_control import API_KEY_HEADER
from gumdrop.principals import hash_key, new_key
from stack.bench.http_load import request_bytes

__all__ = ["ACCESS_SETTINGS", "RATE", "SecuredClient", "SignedRequests"]

RATE = 1_000_000
"""The client's tokens per second and burst: far above any rate the benchmark reaches on one machine."""
ACCESS_SETTINGS = ("PLATFORM_KEYS_FILE", "BLOODBANK_API_KEYS", "BLOODBANK_SIGNING_KEYS")
"""The settings that secure a gateway: the plain one runs without them, the secured one with ours."""


@dataclass(frozen=True)
class SecuredClient:
    """A publishing client with its API key and webhook secret, and the bus's signing key."""

    name: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    key: str = field(default_factory=new_key, repr=False)
    webhook_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), repr=False
    )
    signing_key: str = field(default_factory=lambda: f"bench:{secrets.token_urlsafe(32)}", repr=False)

    def settings(self, folder: Path) -> dict[str, str]:
        """The environment of a gateway that only this client may call, its keys file written into ``folder``."""
        keys_file = folder / "keys.yaml"
        client = {
            "scopes": ["publish"],
            "keys": [hash_key(self.key)],
            "rate": {"per_second": RATE, "burst": RATE},
            "webhook_secrets": [self.webhook_secret],
            "require_signature": True,
        }
        keys_file.write_text(yaml.safe_dump({"clients": {self.name: client}}), encoding="utf-8")
        return {"PLATFORM_KEYS_FILE": str(keys_file), "BLOODBANK_SIGNING_KEYS": self.signing_key}

    def signed(self, host: str, port: int, path: str, bodies: Sequence[bytes], count: int) -> list[bytes]:
        """``count`` requests of ``bodies`` in turn, each signed now under a ``webhook-id`` never used before."""
        signer = Webhook(self.webhook_secret)
        now = datetime.now(UTC)
        timestamp = str(int(now.timestamp()))
        run = uuid.uuid4().hex
        requests = []
        for number, body in enumerate(islice(cycle(bodies), count)):
            message_id = f"msg_{run}_{number}"
            headers = {
                API_KEY_HEADER: self.key,
                "webhook-id": message_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signer.sign(message_id, now, body),
            }
            requests.append(request_bytes(host, port, path, body, headers))
        return requests


class SignedRequests(Iterator[bytes]):
    """``count`` requests signed beforehand; should a run outpace them, more signed as they are sent (``late``)."""

    def __init__(  # noqa: PLR0917 - the arguments of SecuredClient.signed
        self, client: SecuredClient, host: str, port: int, path: str, bodies: Sequence[bytes], count: int
    ) -> None:
        self._ready = iter(client.signed(host, port, path, bodies, count))
        self._client, self._host, self._port, self._path, self._bodies = client, host, port, path, bodies
        self.late = 0
        """Requests signed in the measured time: when above 0, the figure includes signing that many."""

    def __next__(self) -> bytes:
        request = next(self._ready, None)
        if request is None:
            self.late += 1
            body = self._bodies[self.late % len(self._bodies)]
            [request] = self._client.signed(self._host, self._port, self._path, [body], 1)
        return request
