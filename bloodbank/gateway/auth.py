"""API keys: when ``BLOODBANK_API_KEYS`` is set, publishing and the registry need one of them.

A key comes in ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``. Keys are compared in
constant time, against every configured key, so timing tells nothing about any of them.
Health and metrics stay open (probes and scrapers carry no keys).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from bloodbank.gateway.errors import GatewayError
from holyfields import ValidationIssue

__all__ = ["API_KEY_HEADER", "api_key_guard", "is_one_of"]

API_KEY_HEADER = "X-API-Key"

_api_key = APIKeyHeader(name=API_KEY_HEADER, scheme_name="ApiKey", auto_error=False)
_bearer = HTTPBearer(scheme_name="Bearer", auto_error=False, description="The API key as a bearer token")
_CHALLENGE = f'ApiKey realm="bloodbank", header="{API_KEY_HEADER}", Bearer realm="bloodbank"'


def is_one_of(candidate: str, secrets: Sequence[bytes]) -> bool:
    """Whether ``candidate`` equals one of ``secrets``; always compares against all of them."""
    given = candidate.encode()
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given, secret)
    return found


def api_key_guard(keys: Sequence[str]) -> Callable[..., Awaitable[None]]:
    """A dependency that answers 401 (with ``WWW-Authenticate``) unless the request carries one of ``keys``."""
    secrets = [key.encode() for key in keys]

    async def require_api_key(
        api_key: str | None = Security(_api_key),
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
    ) -> None:
        candidate = api_key if api_key is not None else (bearer.credentials if bearer is not None else None)
        if candidate is None:
            raise _unauthorized(f"an API key is required: send it in the {API_KEY_HEADER} header")
        if not is_one_of(candidate, secrets):
            raise _unauthorized("the API key is not valid")

    return require_api_key


def _unauthorized(message: str) -> GatewayError:
    issue = ValidationIssue(f"header.{API_KEY_HEADER}", message)
    return GatewayError(401, [issue], headers={"WWW-Authenticate": _CHALLENGE})
