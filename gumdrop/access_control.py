"""Who may do what, decided once for every service: API keys, scopes and per-client rate limits.

A route declares the scope it needs with :func:`requires` (as a dependency, or as a
parameter when it wants the :class:`~gumdrop.principals.Client`, e.g. as the audit actor);
the WebSocket calls :func:`accept_websocket` before it speaks. The app's :class:`Access`
(``app.state.access``, set by :func:`gumdrop.service_api.service_api`) decides:

- no key configured: every caller is :data:`~gumdrop.principals.ANONYMOUS`, with every scope;
- otherwise ``401`` without a valid key, ``403`` without the scope, ``429`` (with
  ``Retry-After`` and ``RateLimit-*``) once the client spent its token bucket for the
  scope, and ``429`` for a source address that failed to authenticate too often.

The key comes as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``; a browser's
WebSocket, which cannot set headers, offers the subprotocol ``bearer.KEY``.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Sequence
from typing import Annotated, Any

import structlog
from fastapi import Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from gumdrop.database_tls import is_local_host
from gumdrop.http_errors import ApiError
from gumdrop.principals import ANONYMOUS, Client, KeyRing, Scope, describe
from gumdrop.rate_limits import Rate, RateLimiter, RateLimitUnavailable, Verdict, rate_limiter
from gumdrop.settings import LOCAL_HOSTS, AccessSettings

__all__ = [
    "API_KEY_HEADER",
    "WEBSOCKET_BEARER_PREFIX",
    "Access",
    "accept_websocket",
    "audit_actor",
    "requires",
]

log = structlog.get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
WEBSOCKET_BEARER_PREFIX = "bearer."
_CHALLENGE = 'Bearer realm="33god"'

# Close codes of a refused WebSocket (4000-4999 are the application's): the HTTP status plus 1000.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_LIMITED = 4429
CLOSE_ORIGIN = 4403

_api_key = APIKeyHeader(
    name=API_KEY_HEADER, scheme_name="ApiKey", auto_error=False, description="An API key of a configured client"
)
_bearer = HTTPBearer(scheme_name="Bearer", auto_error=False, description="An API key as a bearer token")


class Access:
    """The keys, the rate limits and the origins of one app."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        limiter: RateLimiter,
        default_rate: Rate,
        failure_rate: Rate,
        origins: Sequence[str] = (),
        allowed_hosts: Sequence[str] = LOCAL_HOSTS,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.default_rate = default_rate
        self.failure_rate = failure_rate
        self.origins = frozenset(origins)
        self.allowed_hosts = tuple(allowed_hosts)

    @classmethod
    def from_settings(
        cls, settings: AccessSettings | None = None, *, origins: Sequence[str] = (), host: str | None = None
    ) -> Access:
        """The access of ``settings`` (``PLATFORM_*`` when not given) for an API serving pages of ``origins``.

        ``host`` is the address the service listens on: a specific one is a name it answers to.
        Raises :class:`~gumdrop.principals.KeysFileError` when the keys cannot be used.
        """
        settings = settings or AccessSettings()
        hosts = list(settings.allowed_hosts)
        if host and host not in {"0.0.0.0", "::", ""} and host not in hosts:  # noqa: S104 - comparing, not binding
            hosts.append(host)
        return cls(
            settings.key_ring(),
            limiter=rate_limiter(settings.redis_url),
            default_rate=Rate(settings.rate_per_second, settings.rate_burst),
            failure_rate=Rate(settings.auth_failures_per_minute / 60, settings.auth_failures_per_minute),
            origins=origins,
            allowed_hosts=hosts,
        )

    @classmethod
    def open(cls, *, origins: Sequence[str] = (), allowed_hosts: Sequence[str] = LOCAL_HOSTS) -> Access:
        """No keys: everyone may do everything (a platform on a developer's machine)."""
        return cls(
            KeyRing(),
            limiter=rate_limiter(None),
            default_rate=Rate(1.0, 1),
            failure_rate=Rate(1.0, 1),
            origins=origins,
            allowed_hosts=allowed_hosts,
        )

    @property
    def is_open(self) -> bool:
        return not self.keys.configured

    async def authorize(self, connection: HTTPConnection, key: str | None, scope: Scope, *, cost: int = 1) -> Client:
        """The client ``key`` stands for, once it may use ``scope`` and has the tokens; else an :class:`ApiError`."""
        if self.is_open:
            return ANONYMOUS
        source = _source_address(connection)
        if key is None:
            raise _unauthorized(f"an API key is required: send it as `Authorization: Bearer KEY` or `{API_KEY_HEADER}`")
        await self._not_locked_out(source)
        client = self.keys.authenticate(key)
        if client is None:
            await self._failed(source)
            raise _unauthorized("the API key is not valid")
        if not client.allows(scope):
            raise ApiError.about_request(
                403, f"client {client.name!r} may not {_DOING[scope]}: its key lacks the scope {scope.value!r}"
            )
        await self.charge(client, scope, cost)
        return client

    async def charge(self, client: Client, scope: Scope, cost: int) -> None:
        """Take ``cost`` tokens from ``client``'s bucket for ``scope``; 429 when they are not there."""
        if not client.authenticated or cost <= 0:
            return
        rate = client.rate or self.default_rate
        verdict = await self._take(f"client:{client.name}:{scope.value}", rate, cost)
        if not verdict.allowed:
            raise ApiError.about_request(
                429,
                f"client {client.name!r} is over its rate for {scope.value!r} ({_describe(rate)}); "
                f"retry after {math.ceil(verdict.retry_after)} s",
                headers=verdict.headers(),
            )

    async def _not_locked_out(self, source: str) -> None:
        verdict = await self._take(f"auth-failures:{source}", self.failure_rate, 0)
        if not verdict.allowed:
            raise ApiError.about_request(
                429,
                f"too many failed authentications from {source}; retry after {math.ceil(verdict.retry_after)} s",
                headers=verdict.headers(),
            )

    async def _failed(self, source: str) -> None:
        verdict = await self._take(f"auth-failures:{source}", self.failure_rate, 1)
        log.warning("authentication failed", source=source, attempts_left=verdict.remaining)

    async def _take(self, bucket: str, rate: Rate, cost: int) -> Verdict:
        try:
            return await self.limiter.take(bucket, rate, cost=cost)
        except RateLimitUnavailable as exc:
            raise ApiError.unavailable(f"rate limits cannot be checked: {exc}") from exc

    def announce(self, service: str, host: str) -> None:
        """Say at start who may call ``service``: a platform without keys says it is open, louder off this machine."""
        if self.is_open:
            say = log.info if is_local_host(host) else log.warning
            say(
                "no API keys configured: whoever reaches this service may publish, read and operate "
                "(set PLATFORM_KEYS_FILE or BLOODBANK_API_KEYS)",
                service=service,
                host=host,
            )
        else:
            log.info("API keys required", service=service, clients=describe(self.keys))

    async def close(self) -> None:
        await self.limiter.close()


_DOING = {
    Scope.PUBLISH: "publish events",
    Scope.READ: "read",
    Scope.OPERATE: "act on dead letters or conflicts",
    Scope.ADMIN: "administer the platform",
}


def _describe(rate: Rate) -> str:
    return f"{rate.per_second:g} per second, bursts of {rate.burst}"


def _source_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client is not None else "unknown"


def _unauthorized(message: str) -> ApiError:
    return ApiError.at(401, f"header.{API_KEY_HEADER}", message, headers={"WWW-Authenticate": _CHALLENGE})


def access_of(connection: HTTPConnection) -> Access:
    """The app's access; an app built without one is open."""
    access: Access | None = getattr(connection.app.state, "access", None)
    return access if access is not None else _OPEN


_OPEN = Access.open()


async def _caller(
    security_scopes: SecurityScopes,
    connection: HTTPConnection,
    api_key: Annotated[str | None, Security(_api_key)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Client:
    key = api_key if api_key is not None else (bearer.credentials if bearer is not None else None)
    two = api_key is not None and "authorization" in connection.headers
    if two and (bearer is None or not hmac.compare_digest(api_key or "", bearer.credentials)):
        key = ""  # two different credentials: neither is taken, the request is refused as unauthenticated
    return await access_of(connection).authorize(connection, key, Scope(security_scopes.scopes[-1]))


def requires(scope: Scope) -> Any:
    """The dependency of a route that needs ``scope``; its value is the calling client.

    As ``dependencies=[requires(Scope.READ)]``, or as a parameter
    ``client: Annotated[Client, requires(Scope.OPERATE)]``. A route declares exactly one.
    """
    return Security(_caller, scopes=[scope.value])


async def accept_websocket(websocket: WebSocket, scope: Scope) -> Client | None:
    """Accept ``websocket`` for a client with ``scope``; or refuse it and return None.

    A page from an origin the API does not serve (CORS) is refused, whatever its key. A refusal is
    sent after the handshake, as a close code (4401, 4403, 4429: the HTTP status plus 4000) with
    the reason, because a browser shows a script nothing of a refused handshake.
    """
    access = access_of(websocket)
    offered = [value.strip() for value in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    bearer = next((value for value in offered if value.startswith(WEBSOCKET_BEARER_PREFIX)), None)
    # Answer with the other protocol offered when there is one, so the key is not echoed back.
    chosen = next((value for value in offered if value and value != bearer), bearer)
    await websocket.accept(subprotocol=chosen)
    origin = websocket.headers.get("origin")
    if origin is not None and origin not in access.origins:
        await websocket.close(code=CLOSE_ORIGIN, reason=_close_reason(f"pages from {origin} may not open this stream"))
        return None
    key = _header_key(websocket)
    if key is None and bearer is not None:
        key = bearer.removeprefix(WEBSOCKET_BEARER_PREFIX)
    try:
        return await access.authorize(websocket, key, scope)
    except ApiError as exc:
        code = {401: CLOSE_UNAUTHENTICATED, 403: CLOSE_FORBIDDEN, 429: CLOSE_LIMITED}.get(exc.status, 1011)
        await websocket.close(code=code, reason=_close_reason(exc.errors[0].message))
        return None


def _close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame's reason may have."""
    return text.encode()[:123].decode(errors="ignore")


def _header_key(connection: HTTPConnection) -> str | None:
    if (key := connection.headers.get(API_KEY_HEADER)) is not None:
        return key
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def audit_actor(client: Client, given: str | None, *, path: str) -> str:
    """Who an action is recorded as: the authenticated client; on an open platform, the name given, or ``anonymous``.

    With keys, a caller may not name someone else (``path`` is where it tried); a free-text note stays its own.
    """
    named = given.strip() if given is not None else ""
    if not client.authenticated:
        return named or ANONYMOUS.name
    if named and named != client.name:
        raise ApiError.at(
            422,
            path,
            f"the actor is the authenticated client {client.name!r}: leave it out (a note may say who you are)",
        )
    return client.name
