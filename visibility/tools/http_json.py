"""Reading our own HTTP APIs (the visibility API, Candystore: JSON pages, metrics) with the standard library.

The commands that read history are short-lived and sequential, so a blocking client is
enough. Network and HTTP failures become :class:`ApiUnreachable` or :class:`ApiRefused`,
never a ``urllib`` exception.

Exceptions::

    ApiProblem (RuntimeError)
    ├── ApiUnreachable   nothing answered (connection refused, timeout, DNS)
    └── ApiRefused       it answered with an error status, or with something not JSON
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = ["ApiProblem", "ApiRefused", "ApiUnreachable", "get_json", "get_text", "pages"]


class ApiProblem(RuntimeError):
    """A request to an API failed; ``url`` is the request."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class ApiUnreachable(ApiProblem):
    """Nothing answered at the address."""


class ApiRefused(ApiProblem):
    """The API answered with an error status (``status``) or with a body that is not JSON."""

    def __init__(self, url: str, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(url, message)


def get_json(base: str, path: str, params: Mapping[str, str | int | None], *, timeout: float = 10.0) -> Any:
    """GET ``base`` + ``path`` with the given query (None values left out) and decode the JSON answer."""
    url, body = _get(base, path, params, accept="application/json", timeout=timeout)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiRefused(url, f"the answer is not JSON: {body[:200]!r}") from exc


def get_text(base: str, path: str, *, timeout: float = 10.0) -> str:
    """GET ``base`` + ``path`` and return the answer as text (``/metrics``, say)."""
    url, body = _get(base, path, {}, accept="text/plain", timeout=timeout)
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise ApiRefused(url, f"the answer is not UTF-8 text: {body[:200]!r}") from exc


def _get(
    base: str, path: str, params: Mapping[str, str | int | None], *, accept: str, timeout: float
) -> tuple[str, bytes]:
    query = urlencode({name: value for name, value in params.items() if value is not None})
    url = f"{base.rstrip('/')}{path}" + (f"?{query}" if query else "")
    if not url.startswith(("http://", "https://")):
        raise ApiUnreachable(url, "only http:// and https:// addresses are supported")
    request = urllib.request.Request(url, headers={"accept": accept})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return url, response.read()
    except urllib.error.HTTPError as exc:
        raise ApiRefused(url, f"answered {exc.code}: {_errors(exc.read())}", status=exc.code) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiUnreachable(url, f"no answer ({reason}); is the service running?") from exc
    except ValueError as exc:  # the address itself cannot be used (a bad port, say)
        raise ApiUnreachable(url, f"not a usable address: {exc}") from exc


def pages(
    base: str, path: str, params: Mapping[str, str | int | None], *, timeout: float = 10.0
) -> Iterator[list[dict[str, Any]]]:
    """Every page of a cursor-paged list (``{items, next_cursor}``), following ``next_cursor`` as ``cursor``."""
    cursor: str | None = None
    url = f"{base.rstrip('/')}{path}"
    while True:
        page = get_json(base, path, {**params, "cursor": cursor}, timeout=timeout)
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise ApiRefused(url, "expected a page {items, next_cursor}")
        yield [item for item in page["items"] if isinstance(item, dict)]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _errors(body: bytes) -> str:
    """The ``{"errors": [{path, message}]}`` of our APIs as one line, or the start of the body."""
    try:
        document = json.loads(body)
        return "; ".join(f"{error['path']}: {error['message']}" for error in document["errors"])
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") or "no details"
