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

import httpx2 as httpx
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


async def _excerpt(response: httpx.Response) -> bytes:
    """The answer's body up to MAX_ANSWER_BYTES (read whole when it is short, so the connection is reused)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            break
    return bytes(body)


def _reason(response: httpx.Response, body: bytes) -> str:
    reason = f"answered {response.status_code} {response.reason_phrase}".rstrip()
    if (retry_after := response.headers.get("retry-after")) is not None:
        reason += f" (Retry-After: {retry_after[:40]})"
    if location := response.headers.get("location"):
        reason += f" (Location: {location[:200]})"
    text = " ".join(body.decode("utf-8", errors="replace").split())
    if text:
        reason += ": " + (text if len(text) <= EXCERPT_CHARACTERS else text[: EXCERPT_CHARACTERS - 1] + "…")
    return reason


class WebhookSender:
    """Posts signed events to one URL, at most ``connections`` at a time.

    Each request slot is a client with one keep-alive connection of its own, taken from a
    last-in-first-out pool: httpx probes every idle connection of a pool on each request, so
    one shared pool of N connections costs N probes a request while few are busy; and the
    slots used last stay warm while the others' connections expire when deliveries are few.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float,
        connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._webhook = Webhook(secret)
        tls = ssl.create_default_context()  # built once: each client would build its own
        self._clients = [
            httpx.AsyncClient(
                timeout=timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                follow_redirects=False,
                transport=transport,
                verify=tls,
                headers={"user-agent": USER_AGENT},
            )
            for _ in range(connections)
        ]
        self._idle: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        for client in self._clients:
            self._idle.put_nowait(client)

    async def send(self, event_id: str, body: bytes) -> Answer:
        """POST ``body`` (the envelope JSON) signed for ``event_id``; never raises for what the receiver does."""
        signed_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(floor(signed_at.timestamp())),
            "webhook-signature": self._webhook.sign(event_id, signed_at, body),
        }
        client = await self._idle.get()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):  # the whole exchange, however slowly the answer trickles
                response = await client.send(
                    client.build_request("POST", self.url, content=body, headers=headers), stream=True
                )
                try:
                    answer_body = await _excerpt(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return self._answer(Verdict.RETRY, None, f"no answer within {self.timeout:g} s", started)
        except httpx.TransportError as exc:
            problem = str(exc) or "the connection failed"
            return self._answer(Verdict.RETRY, None, f"{type(exc).__name__}: {problem}", started)
        finally:
            self._idle.put_nowait(client)
        verdict = _verdict(response.status_code)
        reason = f"answered {response.status_code}" if verdict is Verdict.DELIVERED else _reason(response, answer_body)
        return self._answer(verdict, response.status_code, reason, started)

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()

    @staticmethod
    def _answer(verdict: Verdict, status: int | None, reason: str, started: float) -> Answer:
        return Answer(verdict, status, reason, time.perf_counter() - started)
