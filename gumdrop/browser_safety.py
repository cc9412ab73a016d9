"""What keeps a browser from being turned against the platform: Host names, framing, sniffing, scripts.

- :class:`AllowedHosts` answers only requests whose ``Host`` is one of the platform's names, so
  a page on another site cannot reach a service on this machine by rebinding its own DNS name
  to 127.0.0.1 (the probes and ``/metrics`` answer any name: orchestrators and scrapers call
  them by address).
- :class:`SecurityHeaders` adds ``nosniff``, no framing, no referrer and a Content-Security-Policy
  to every answer. A JSON API needs no page abilities at all: ``default-src 'none'``. Its
  interactive docs (``/docs``, ``/redoc``) load their scripts from a CDN and start them with an
  inline script, which the policy allows by that script's hash, and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gumdrop.http_errors import json_response

__all__ = ["AllowedHosts", "SecurityHeaders", "api_security_headers", "host_allowed"]

_OPEN_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

_DOCS_CDN = "https://cdn.jsdelivr.net"
_MAX_REMEMBERED = 1024
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def api_security_headers() -> dict[str, str]:
    """The headers every answer of a JSON API carries."""
    return {
        "Content-Security-Policy": API_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` (a Host header, with or without port) is one of ``allowed``.

    ``*`` allows any name; ``*.example.com`` the names under example.com (not example.com itself).
    """
    name = _without_port(host).lower()
    for pattern in allowed:
        if pattern in {"*", name}:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def _without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8683
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AllowedHosts:
    """ASGI middleware: a request (or WebSocket) for a ``Host`` not in ``hosts`` is answered 400 unread."""

    def __init__(self, app: ASGIApp, *, hosts: Sequence[str]) -> None:
        self.app = app
        self.hosts = tuple(pattern.lower() for pattern in hosts)
        self._known: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"] in _OPEN_PATHS or self._allows(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "this Host is not one of the service's"})
            return
        host = _host(scope).decode("latin-1")
        message = (
            f"the Host {host[:100]!r} is not one of this service's names; call it by one of "
            f"{', '.join(self.hosts)} (or add the name to PLATFORM_ALLOWED_HOSTS)"
        )
        await json_response(400, {"errors": [{"path": "header.Host", "message": message}]})(scope, receive, send)

    def _allows(self, scope: Scope) -> bool:
        host = _host(scope)
        known = self._known.get(host)
        if known is None:
            known = host_allowed(host.decode("latin-1"), self.hosts)
            if len(self._known) < _MAX_REMEMBERED:  # names are few; a flood of made-up ones is not remembered
                self._known[host] = known
        return known


def _host(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return bytes(value)
    return b""


class SecurityHeaders:
    """ASGI middleware that adds ``headers`` to every HTTP answer, errors included.

    Answers under ``docs_paths`` get a policy that lets the interactive docs run (see the module docstring).
    """

    def __init__(self, app: ASGIApp, *, headers: Mapping[str, str], docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*_without(message.get("headers", []), self.headers), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page, held until complete so that the policy can name its inline script's hash."""
        start: Message = {}
        body = bytearray()

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            headers = MutableHeaders(raw=[*_without(start.get("headers", []), self.headers), *self.headers])
            headers["Content-Security-Policy"] = docs_policy(bytes(body))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, hold)


def docs_policy(page: bytes) -> str:
    """The policy of a docs page: scripts and styles from the CDN, its own inline scripts by hash."""
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return (
        f"default-src 'none'; script-src {_DOCS_CDN} {' '.join(hashes)}; style-src {_DOCS_CDN} 'unsafe-inline'; "
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; font-src https://fonts.gstatic.com; "
        "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _without(
    headers: Iterable[tuple[bytes, bytes]], replaced: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    names = {name for name, _ in replaced}
    return [(name, value) for name, value in headers if name.lower() not in names]
