"""Every HTTP request gets an id: echoed in ``X-Request-Id``, on every log line written while it is handled,
and on its access log line (design.md, "Logs and traces"); with :class:`HttpMetrics`, it is counted too.

The caller's own ``X-Request-Id`` is kept when it is a plain token (letters, digits, ``._:-``,
at most 128 characters), so that a proxy's or a client's id follows the request; anything
else is replaced by a new id, never copied into a header or a log line.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gumdrop.logs import line_fields, writes
from gumdrop.service_metrics import HttpMetrics

__all__ = ["REQUEST_ID_HEADER", "RequestIds"]

REQUEST_ID_HEADER = "X-Request-Id"

_PLAIN_TOKEN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()

UNANSWERED = 500

log = structlog.get_logger("gumdrop.access")

_PROCESS = secrets.token_hex(8)  # ids need to be unique, not unpredictable: a random prefix and a counter
_COUNTER = itertools.count(1)


def _request_id(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == _HEADER_KEY and _PLAIN_TOKEN.fullmatch(value):
            return value.decode()
    return f"{_PROCESS}{next(_COUNTER):016x}"


def _route(scope: Scope) -> str | None:
    """The template of the route that took the request; a mounted app's files are one route; ``None`` if none."""
    if (route := scope.get("route")) is not None:
        return str(route.path)
    if "endpoint" in scope:  # a Mount matched: the app under it has no templates of its own
        return f"{scope.get('root_path', '')}/{{path}}"
    return None


class RequestIds:
    """ASGI middleware: an id per HTTP request or WebSocket, bound to its log lines; one access line each.

    ``service`` names the service on the access lines and in the metrics' ``service`` label.
    """

    def __init__(self, app: ASGIApp, *, service: str, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.service = service
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = UNANSWERED  # what the access line says when the app ends without answering
        echoed = (_HEADER_KEY, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == UNANSWERED:
                status = 403  # closed before it was accepted: refused
            await send(message)

        started = time.perf_counter()
        token = line_fields.set({**(line_fields.get() or {}), "request_id": request_id})
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route(scope)
            if self.metrics is not None:
                self.metrics.observe(route, status, seconds)
            if writes(logging.INFO):
                log.info(
                    "request",
                    service=self.service,
                    method=scope.get("method", "WEBSOCKET"),
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                )
            line_fields.reset(token)
