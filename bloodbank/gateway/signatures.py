"""Signed publish requests, the Standard Webhooks way: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

A producer signs ``{webhook-id}.{webhook-timestamp}.{raw body}`` with HMAC-SHA256 under one of
its client's secrets (``whsec_…`` in the keys file) and sends ``webhook-signature: v1,<base64>``
(several, space-separated, while it rotates). The gateway checks the signature against every
secret of the client (old and new verify alike until the old one is removed from the file), a
timestamp within 5 minutes of now, and that the ``webhook-id`` was not used before within that
window, so a captured request cannot be sent again. Any failure is a ``401`` saying which.

A request without signature headers is taken from a client that does not ``require_signature``.
The scheme's arithmetic is the ``standardwebhooks`` library's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bloodbank.gateway.errors import GatewayError
from gumdrop.principals import Client
from holyfields import ValidationIssue

__all__ = ["SIGNATURE_HEADERS", "RequestSignatures"]

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
TOLERANCE_SECONDS = 5 * 60
"""How far a signature's timestamp may be from now (the scheme's own tolerance), and how long an id is kept."""

_MAX_REMEMBERED = 1_000_000


class RequestSignatures:
    """Verifies signed requests; remembers the ids it accepted (in Redis when given, shared by every gateway).

    ``refuse_replays=False`` accepts an id seen before: for senders that retry with the same id
    and an idempotency record that answers the retry.
    """

    def __init__(
        self, *, redis: Redis | None = None, prefix: str = "bloodbank:webhook-id:", refuse_replays: bool = True
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.refuse_replays = refuse_replays
        self._verifiers: dict[tuple[str, ...], list[Webhook]] = {}
        self._seen: dict[str, float] = {}

    async def check(self, client: Client, body: bytes, headers: Mapping[str, str]) -> None:
        """Nothing when ``body`` is signed well by ``client`` (or need not be); else a 401 saying what is wrong."""
        given = {name: value for name in SIGNATURE_HEADERS if (value := headers.get(name)) is not None}
        if not given:
            if client.require_signature:
                raise _refused(
                    "webhook-signature",
                    f"client {client.name!r} must sign its requests: send webhook-id, webhook-timestamp and "
                    "webhook-signature (Standard Webhooks)",
                )
            return
        if not client.webhook_secrets:
            raise _refused("webhook-signature", f"client {client.name!r} has no webhook secrets to verify with")
        missing = [name for name in SIGNATURE_HEADERS if name not in given]
        if missing:
            raise _refused(
                missing[0], f"a signed request needs {', '.join(SIGNATURE_HEADERS)}; {missing[0]} is missing"
            )
        _check_timestamp(given["webhook-timestamp"])
        if not any(_verifies(verifier, body, given) for verifier in self._verifiers_of(client)):
            raise _refused(
                "webhook-signature",
                "the signature does not match the body under any of the client's secrets "
                "(sign `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256)",
            )
        if self.refuse_replays and not await self._first_use(f"{client.name}:{given['webhook-id']}"):
            raise _refused("webhook-id", "this webhook-id was used already: a replayed request is refused")

    def _verifiers_of(self, client: Client) -> list[Webhook]:
        verifiers = self._verifiers.get(client.webhook_secrets)
        if verifiers is None:
            verifiers = self._verifiers[client.webhook_secrets] = [Webhook(s) for s in client.webhook_secrets]
        return verifiers

    async def _first_use(self, key: str) -> bool:
        if self.redis is not None:
            try:
                return bool(await self.redis.set(self.prefix + key, b"1", nx=True, ex=2 * TOLERANCE_SECONDS))
            except (RedisError, OSError) as exc:
                raise GatewayError.unavailable(f"signed requests cannot be checked for replay: Redis: {exc}") from exc
        now = time.monotonic()
        while self._seen:  # oldest first: ids are kept in the order they came, each for the same time
            oldest, until = next(iter(self._seen.items()))
            if until >= now and len(self._seen) < _MAX_REMEMBERED:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now + 2 * TOLERANCE_SECONDS
        return True

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def _check_timestamp(value: str) -> None:
    if not value.isdigit():
        raise _refused("webhook-timestamp", f"expected whole seconds since 1970, got {value[:40]!r}")
    off = int(value) - time.time()
    if abs(off) > TOLERANCE_SECONDS:
        when = "ahead of" if off > 0 else "behind"
        raise _refused(
            "webhook-timestamp",
            f"the timestamp is {abs(off):.0f} s {when} the gateway's clock; at most {TOLERANCE_SECONDS} s are allowed",
        )


def _verifies(verifier: Webhook, body: bytes, headers: Mapping[str, str]) -> bool:
    try:
        verifier.verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def _refused(header: str, message: str) -> GatewayError:
    return GatewayError(401, [ValidationIssue(f"header.{header}", message)])
