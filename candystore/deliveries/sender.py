"""Sending one event to a subscription's URL, signed as Standard Webhooks says, and reading the answer.

The request: ``POST`` the envelope JSON with ``content-type: application/json`` and the
headers ``webhook-id`` (the event id: receivers deduplicate by it), ``webhook-timestamp``
(when this attempt was signed) and ``webhook-signature`` (``v1,<base64>``, by the
``standardwebhooks`` library). Redirects are not followed: a receiver that moved says so by
a 3xx, and the subscription's URL is what should change.

What the answer means (:class:`Verdict`)::

    2xx                                   delivered
    408, 429, 5xx, no answer in time,     retry (a 429's or 503's Retry-After is quoted in the reason;
      connection refused or cut             the subscription's tiers decide when)
    410 Gone                              gone: dead-lettered, and the subscription disabled
    anything else (3xx, other 4xx)        failed: dead-lettered at once, the status and body in the reason
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from math import floor

import httpcore2 as httpcore
from standardwebhooks import Webhook

__all__ = ["Answer", "Verdict", "WebhookSender"]

USER_AGENT = "33GOD-Candystore-Deliveries/1.0"
EXCERPT_CHARACTERS = 300
"""Characters of a failed answer's body quoted in the reason (and so in the dead letter)."""
MAX_ANSWER_BYTES = 64 * 1024
"""Bytes of an answer read at most: past them the connection is closed rather than read on."""
_RETRIED_STATUSES = frozenset({408, 429})
_GONE = 410


class Verdict(StrEnum):
    """What became of one attempt."""

    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    RETRY = "retry"
    """It may work later: no answer, a cut connection, 408, 429 or 5xx."""
    FAILED = "failed"
    """It will not work by trying again: 3xx or a 4xx other than 408, 410 and 429."""
    GONE = "gone"
    """The receiver answered 410: it asks not to be sent anything more."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One attempt's outcome: the verdict, the status (None without an answer), why, and how long it took."""

    verdict: Verdict
    status: int | None
    reason: str
    seconds: float


def _verdict(status: int) -> Verdict:
    if 200 <= status < 300:  # noqa: PLR2004 - the 2xx class
        return Verdict.DELIVERED
    if status == _GONE:
        return Verdict.GONE
    if status in _RETRIED_STATUSES or status >= 500:  # noqa: PLR2004 - the 5xx class
        return Verdict.RETRY
    return Verdict.FAILED


async def _excerpt(response: httpcore.Response) -> bytes:
    """The answer's body up to MAX_ANSWER_BYTES (read whole when it is short, so the connection is reused)."""
    body = bytearray()
    async for chunk in response.aiter_stream():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            break
    return bytes(body)


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _reason(response: httpcore.Response, body: bytes) -> str:
    phrase = response.extensions.get("reason_phrase", b"").decode("latin-1")
    reason = f"answered {response.status} {phrase}".rstrip()
    if (retry_after := _header(response, b"retry-after")) is not None:
        reason += f" (Retry-After: {retry_after[:40]})"
    if location := _header(response, b"location"):
        reason += f" (Location: {location[:200]})"
    text = " ".join(body.decode("utf-8", errors="replace").split())
    if text:
        reason += ": " + (text if len(text) <= EXCERPT_CHARACTERS else text[: EXCERPT_CHARACTERS - 1] + "…")
    return reason


_NO_CONNECTION = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ConnectionNotAvailable,
    httpcore.UnsupportedProtocol,
)
"""What httpcore raises when the exchange could not happen or was cut: worth trying again later."""


class WebhookSender:
    """Posts signed events to one URL, at most ``connections`` at a time.

    httpcore, not httpx: the subscription's URL is checked when it is made (no user info, no
    redirects followed, no cookies), so httpx's layers above the connection pool would only cost
    time, about a third of each request's. Each request slot is a pool with one keep-alive
    connection of its own, taken last-in-first-out: httpcore probes every idle connection of a
    pool on each request, and the slots used last stay warm while the others' connections expire
    when deliveries are few.
    """

    def __init__(self, url: str, secret: str, *, timeout: float, connections: int) -> None:
        self.url = url
        self.timeout = timeout
        self._target = httpcore.URL(url)
        self._webhook = Webhook(secret)
        self._timeouts = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
        tls = ssl.create_default_context()  # built once: each pool would build its own
        self._pools = [httpcore.AsyncConnectionPool(ssl_context=tls, max_connections=1) for _ in range(connections)]
        self._idle: asyncio.LifoQueue[httpcore.AsyncConnectionPool] = asyncio.LifoQueue()
        for pool in self._pools:
            self._idle.put_nowait(pool)

    async def send(self, event_id: str, body: bytes) -> Answer:
        """POST ``body`` (the envelope JSON) signed for ``event_id``; never raises for what the receiver does."""
        signed_at = datetime.now(UTC)
        headers = [
            (b"user-agent", USER_AGENT.encode()),
            (b"content-type", b"application/json"),
            (b"webhook-id", event_id.encode()),
            (b"webhook-timestamp", str(floor(signed_at.timestamp())).encode()),
            (b"webhook-signature", self._webhook.sign(event_id, signed_at, body).encode()),
        ]
        pool = await self._idle.get()
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(self.timeout),  # the whole exchange, however slowly the answer trickles
                pool.stream("POST", self._target, headers=headers, content=body, extensions=self._timeouts) as response,
            ):
                answer_body = await _excerpt(response)
        except (TimeoutError, httpcore.TimeoutException):
            return self._answer(Verdict.RETRY, None, f"no answer within {self.timeout:g} s", started)
        except _NO_CONNECTION as exc:
            problem = str(exc) or "the connection failed"
            return self._answer(Verdict.RETRY, None, f"{type(exc).__name__}: {problem}", started)
        finally:
            self._idle.put_nowait(pool)
        verdict = _verdict(response.status)
        reason = f"answered {response.status}" if verdict is Verdict.DELIVERED else _reason(response, answer_body)
        return self._answer(verdict, response.status, reason, started)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    @staticmethod
    def _answer(verdict: Verdict, status: int | None, reason: str, started: float) -> Answer:
        return Answer(verdict, status, reason, time.perf_counter() - started)
