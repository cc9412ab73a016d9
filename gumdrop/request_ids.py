"""Every HTTP request gets an id: echoed in ``X-Request-Id``, on every log line written while it is handled,
and on its access log line (design.md, "Logs and traces").

The caller's own ``X-Request-Id`` is kept when it is a plain token (letters, digits, ``._:-``,
at most 128 characters), so that a proxy's or a client's id follows the request; anything
else is replaced by a new id, never copied into a header or a log line.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "RequestIds"]

REQUEST_ID_HEADER = "X-Request-Id"

_PLAIN_TOKEN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()

log = structlog.get_logger("gumdrop.access")

_PROCESS = secrets.token_hex(8)  # ids need to be unique, not unpredictable: a random prefix and a counter
_COUNTER = itertools.count(1)


def _request_id(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == _HEADER_KEY and _PLAIN_TOKEN.fullmatch(value):
            return value.decode()
    return f"{_PROCESS}{next(_COUNTER):016x}"


class RequestIds:
    """ASGI middleware: an id per HTTP request or WebSocket, bound to its log lines; one access line each."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500  # what the access line says when the app ends without answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    service=self.service,
                    method=scope.get("method", "WEBSOCKET"),
                    path=scope["path"],
                    status=status if scope["type"] == "http" else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
