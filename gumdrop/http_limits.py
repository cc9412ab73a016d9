"""What a request body may be on the platform's HTTP services: its size, its media type, and strict JSON.

:class:`RequestLimits` is an ASGI middleware in front of an app. It reads a request's body
before the app sees it, and answers in the platform's error shape when the body breaks a rule:

    413  the body is larger than the service's cap (announced by Content-Length, or streamed past it)
    415  a POST, PUT, PATCH or DELETE carries a body that is not JSON (a cross-site form post
         is ``text/plain``), or no Content-Type at all
    422  (with ``strict_json``) JSON the platform refuses, at its path: a duplicate key, nesting
         past :data:`gumdrop.strict_json.MAX_DEPTH`, U+0000, a number beyond a double

The app then receives the body it would have received (one message). A client that sends
its body too slowly is the server's business (:mod:`gumdrop.http_deadlines` answers it 408).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gumdrop.strict_json import InvalidJson, decode_json

__all__ = ["BODY_METHODS", "JSON_MEDIA_TYPES", "BodyRules", "RequestLimits", "is_json_media_type"]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""The methods whose body is the request's content; a body sent with them must be JSON."""

JSON_MEDIA_TYPES = frozenset({"application/json"})
"""The media types a JSON body may be sent as (``charset=utf-8`` allowed, no other charset)."""


@dataclass(frozen=True, slots=True)
class BodyRules:
    """The rules one service holds request bodies to."""

    max_bytes: int
    setting: str
    """The setting that raises ``max_bytes``, named in the 413 (``CANDYSTORE_MAX_BODY_BYTES``)."""
    advice: str = "send a smaller body"
    """What a 413 tells the client to do."""
    structured_json: bool = False
    """Accept ``application/*+json`` too (``application/cloudevents+json``)."""
    strict_json: bool = True
    """Decode JSON bodies here (:func:`gumdrop.strict_json.decode_json`); off for an app that decodes them itself."""


def is_json_media_type(content_type: str | None, *, structured: bool = False) -> bool:
    """Whether ``content_type`` is JSON in UTF-8: ``application/json``, or ``application/*+json`` if ``structured``."""
    if not content_type:
        return False
    media_type, *parameters = (part.strip() for part in content_type.lower().split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in {"utf-8", "utf8"}:
            return False
    if media_type in JSON_MEDIA_TYPES:
        return True
    return structured and media_type.startswith("application/") and media_type.endswith("+json")


class RequestLimits:
    """ASGI middleware holding every HTTP request body to ``rules`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, rules: BodyRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        if declared == 0 or (declared is None and "transfer-encoding" not in headers):
            await self.app(scope, receive, send)  # no body
            return
        if refusal := self._refusal(scope["method"], headers, declared):
            await refusal(scope, receive, send)
            return
        try:
            body = await _read_body(receive, limit=self.rules.max_bytes)
        except _BodyTooLarge:
            await self._too_large()(scope, receive, send)
            return
        if body is None:
            return  # the client went away (or was closed for being too slow): nobody to answer
        if self.rules.strict_json and scope["method"] in BODY_METHODS:
            try:
                decode_json(body)
            except InvalidJson as exc:
                await _error(422, exc.path, exc.message)(scope, receive, send)
                return
        await self.app(scope, _replaying(body, receive), send)

    def _refusal(self, method: str, headers: Headers, declared: int | None) -> JSONResponse | None:
        """The answer to a body refused on its headers alone, before a byte of it is read."""
        if declared is not None and declared > self.rules.max_bytes:
            return self._too_large()
        content_type = headers.get("content-type")
        if method in BODY_METHODS and not is_json_media_type(content_type, structured=self.rules.structured_json):
            return _error(415, "header.Content-Type", _unsupported(content_type, structured=self.rules.structured_json))
        return None

    def _too_large(self) -> JSONResponse:
        rules = self.rules
        return _error(413, None, f"the body is larger than {rules.max_bytes} bytes ({rules.setting}): {rules.advice}")


class _BodyTooLarge(Exception):
    """Raised by :func:`_read_body` as soon as the body passes its limit."""


async def _read_body(receive: Receive, *, limit: int) -> bytes | None:
    """The whole body, or None if the client disconnected; :class:`_BodyTooLarge` as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` in one message, then whatever the client does next."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _declared_length(headers: Headers) -> int | None:
    """The Content-Length, if the request has a valid one (the HTTP parser refuses an invalid one)."""
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _unsupported(content_type: str | None, *, structured: bool) -> str:
    wanted = "application/json" + (" (or application/*+json)" if structured else "")
    if not content_type:
        return f"the body has no Content-Type: send JSON as {wanted}"
    return f"the body is {content_type!r}, which is not JSON in UTF-8: send it as {wanted}"


def _error(status: int, path: str | None, message: str) -> JSONResponse:
    """An answer in the platform's error shape (see :mod:`gumdrop.http_errors`)."""
    return JSONResponse({"errors": [{"path": path, "message": message}]}, status_code=status)
