"""How long an HTTP client may take: slow and idle connections are closed, so they cannot pile up.

uvicorn closes a kept-alive connection that stays idle (``timeout_keep_alive``) but gives
no deadline to a request that is still arriving: a client trickling its headers or its
body a byte at a time holds its connection for as long as it likes, and a few thousand such
clients exhaust the server. :func:`deadline_protocol` makes uvicorn's HTTP protocol keep
two deadlines per request:

- the headers must be complete within ``headers`` seconds of the connection being made or
  of the request's first byte; otherwise the connection is closed;
- the body must be complete within ``body`` seconds of the headers; otherwise the client
  is answered ``408`` in the platform's error shape (when nothing was answered yet) and the
  connection is closed. This also bounds how long a body refused early (a 413 on its
  Content-Length) may go on arriving to be discarded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BODY_TIMEOUT_SECONDS", "HEADER_TIMEOUT_SECONDS", "KEEP_ALIVE_SECONDS", "Deadlines", "deadline_protocol"]

HEADER_TIMEOUT_SECONDS = 10.0
"""Seconds a request's headers may take to arrive (nginx's ``client_header_timeout`` is 60; clients send at once)."""

BODY_TIMEOUT_SECONDS = 30.0
"""Seconds a request's body may take to arrive after its headers (1 MiB at 35 KB/s)."""

KEEP_ALIVE_SECONDS = 5
"""Seconds an idle kept-alive connection stays open (uvicorn's default)."""


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long a client may take, in seconds (see the module docstring)."""

    headers: float = HEADER_TIMEOUT_SECONDS
    body: float = BODY_TIMEOUT_SECONDS
    keep_alive: int = KEEP_ALIVE_SECONDS


def deadline_protocol(deadlines: Deadlines) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP/1.1 protocol (httptools) keeping ``deadlines``; pass it as ``uvicorn.Config(http=…)``."""
    return type("DeadlineProtocol", (_DeadlineProtocol,), {"deadlines": deadlines})


class _DeadlineProtocol(HttpToolsProtocol):
    deadlines: ClassVar[Deadlines]
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start(self.deadlines.headers, self._headers_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # the next request on a kept-alive connection
            self._start(self.deadlines.headers, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._stop()
        super().on_headers_complete()
        if not self.pipeline:  # a pipelined request's body is not read until its turn
            self._start(self.deadlines.body, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._stop()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _start(self, seconds: float, expired: Callable[[], None]) -> None:
        self._stop()
        self._timer = self.loop.call_later(seconds, expired)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_too_slow(self) -> None:
        self._timer = None
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.transport.is_closing():
            cycle.response_started = cycle.response_complete = True  # whatever the app sends later goes nowhere
            self.transport.write(_request_timeout(self.deadlines.body))
        self.transport.close()


def _request_timeout(seconds: float) -> bytes:
    """A complete ``408`` answer in the platform's error shape, closing the connection."""
    message = f"the request body did not arrive within {seconds:g} s: send it at once, or send less"
    body = json.dumps({"errors": [{"path": None, "message": message}]}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body
