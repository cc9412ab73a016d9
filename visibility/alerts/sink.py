"""Where alert messages go: the port, the Slack incoming webhook, and an in-memory double for tests.

Exceptions::

    DeliveryFailed (Exception)     the message was not accepted; ``retry_after`` when the receiver said so
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx2

__all__ = ["AlertSink", "DeliveryFailed", "MemorySink", "SlackWebhook"]


class DeliveryFailed(Exception):
    """A message was not delivered; it stays in the outbox and is tried again."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AlertSink(Protocol):
    async def send(self, body: Mapping[str, Any]) -> None:
        """Deliver one message; raise :class:`DeliveryFailed` unless the receiver accepted it."""
        ...

    async def close(self) -> None: ...


class SlackWebhook:
    """A Slack incoming webhook: ``POST`` the message as JSON; a 2xx answer means delivered."""

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx2.AsyncClient | None = None) -> None:
        self.url = url
        self._client = client or httpx2.AsyncClient(timeout=timeout)
        self._owned = client is None
        self._timeout = timeout

    async def send(self, body: Mapping[str, Any]) -> None:
        try:
            answer = await self._client.post(self.url, json=dict(body), timeout=self._timeout)
        except httpx2.HTTPError as exc:
            raise DeliveryFailed(f"the webhook did not answer: {type(exc).__name__}: {exc}") from exc
        if answer.is_success:
            return
        retry_after = _seconds(answer.headers.get("retry-after"))
        raise DeliveryFailed(f"the webhook answered {answer.status_code}: {answer.text[:300]}", retry_after=retry_after)

    async def close(self) -> None:
        if self._owned:
            await self._client.aclose()


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(float(value), 0.0)
    except ValueError:
        return None


class MemorySink:
    """Keeps what it is sent; ``failing`` makes it refuse (an outage)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failing = False

    async def send(self, body: Mapping[str, Any]) -> None:
        if self.failing:
            raise DeliveryFailed("the sink is failing")
        self.sent.append(dict(body))

    async def close(self) -> None:
        return None
