"""``POST /webhooks/github`` and ``POST /webhooks/n8n``: signed deliveries of other services, published as events.

Every delivery goes the same way, whoever sent it:

1. a request without the headers every delivery of its sender has is refused at once: ``401``
   without a signature (not counted as a failed authentication, as a request without an API key
   is not), ``422`` without GitHub's event or delivery id;
2. while its secret is not set, the intake is off: ``404`` naming the setting;
3. an address that failed to authenticate too often is refused (``429``): the same budget per
   source address as failed API keys (:mod:`gumdrop.access_control`), spent by wrong signatures;
4. the signature is checked over the raw body: ``401`` saying what is wrong;
5. the delivery's id is its idempotency key. The event id is derived from it, and a delivery
   already published is answered as it was the first time (``202``, the same event id) without
   publishing; gateways sharing Redis share that record (the bus's idempotency store). Two
   gateways racing on one id could both publish, but the same event, which consumers handle once;
6. the body becomes its event (``422`` listing what it lacks, at its path in the body), validated
   and published as ``POST /events`` publishes: ``202`` once the broker confirmed, the schema's
   issues as a ``422``, ``503`` when the broker does not confirm (the sender retries).

The routes take no API key: the signature authenticates the sender. Each outcome is counted in
``bloodbank_webhooks_total{source,outcome}``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from bloodbank.envelope import build_envelope
from bloodbank.errors import BrokerUnavailable
from bloodbank.gateway.errors import BODY_ERRORS, GatewayError, json_response
from bloodbank.gateway.events import EventAccepted, answer
from bloodbank.gateway.state import GatewayState
from bloodbank.gateway.webhooks import github, n8n
from bloodbank.idempotency import IdempotencyStore
from bloodbank.publisher import PublishOutcome
from gumdrop.http_errors import ApiError, documented
from gumdrop.rate_limits import RateLimitUnavailable, Verdict
from gumdrop.strict_json import InvalidJson, decode_json
from holyfields import InvalidEvent, ValidationIssue

__all__ = ["WEBHOOK_NAMESPACE", "webhook_routes"]

log = structlog.get_logger(__name__)

WEBHOOK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://33god.io/webhooks")
"""Derives a delivery's event id from its sender and delivery id; stored ids depend on it, so it never changes."""

_OUTCOMES = {401: "unauthorized", 404: "disabled", 422: "invalid", 429: "limited", 503: "unavailable"}
"""The ``outcome`` label of a refused delivery, by status."""

_T = TypeVar("_T")
Handling = Awaitable[tuple[Response, str]]
EnvelopeOf = Callable[[str], dict[str, Any]]
"""Builds the envelope of a delivery, given its event id; raises :class:`~holyfields.InvalidEvent`."""


class GithubPingAnswered(BaseModel):
    """GitHub's ping: the signature verified, nothing was published."""

    zen: str | None = Field(description="GitHub's zen line, sent back")
    hook_id: int | None = Field(description="The hook GitHub pinged")


def webhook_routes(state: GatewayState) -> APIRouter:
    """The webhook intake of one gateway."""
    router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=_ERRORS)
    intake = _WebhookIntake(state)

    @router.post(
        "/github",
        status_code=202,
        response_model=EventAccepted,
        responses={200: {"model": GithubPingAnswered, "description": "A ping: the signature verified"}},
        summary="Receive a GitHub webhook delivery",
        description="Set the hook's payload URL to this route, its content type to `application/json` and its "
        "secret to `BLOODBANK_GITHUB_WEBHOOK_SECRET`. Answers 202 with the event id once the broker confirmed "
        "it; a redelivery (the same `X-GitHub-Delivery`) is answered the same, and publishes nothing.",
        operation_id="receiveGithubWebhook",
        openapi_extra=_documented(_GITHUB_HEADERS, {"type": "object", "description": "GitHub's delivery, as sent"}),
    )
    async def receive_github(request: Request) -> Response:
        with state.in_flight:
            return await intake.counted("github", intake.github(request))

    @router.post(
        "/n8n",
        status_code=202,
        response_model=EventAccepted,
        summary="Receive an n8n workflow notification",
        description="A notification signed the Standard Webhooks way with `BLOODBANK_N8N_WEBHOOK_SECRET`. Answers "
        "202 with the event id once the broker confirmed it; a retry (the same `webhook-id`) is answered the "
        "same, and publishes nothing.",
        operation_id="receiveN8nWebhook",
        openapi_extra=_documented(_N8N_HEADERS, _N8N_BODY),
    )
    async def receive_n8n(request: Request) -> Response:
        with state.in_flight:
            return await intake.counted("n8n", intake.n8n(request))

    return router


class _WebhookIntake:
    """What the webhook routes do, for one gateway."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        settings = state.settings
        github_secret = settings.github_webhook_secret
        self.github_secret = github_secret.get_secret_value() if github_secret is not None else None
        n8n_secret = settings.n8n_webhook_secret
        self.n8n_signatures = n8n.N8nSignatures(n8n_secret.get_secret_value()) if n8n_secret is not None else None
        self._locks = _KeyedLocks()

    async def counted(self, source: str, handling: Handling) -> Response:
        """The answer of ``handling``, its outcome counted (a refusal's too)."""
        try:
            response, outcome = await handling
        except ApiError as exc:
            self.state.metrics.webhooks.labels(source, _OUTCOMES.get(exc.status, "invalid")).inc()
            raise
        self.state.metrics.webhooks.labels(source, outcome).inc()
        return response

    async def github(self, request: Request) -> tuple[Response, str]:
        signature = github.signature_of(request.headers)
        delivery = github.GithubDelivery.from_headers(request.headers)
        secret = _switched_on(self.github_secret, "GitHub", "BLOODBANK_GITHUB_WEBHOOK_SECRET")
        await self._not_locked_out(request)
        body = await request.body()
        try:
            github.check_signature(secret, body, signature)
        except GatewayError:
            await self._failed(request, "github")
            raise
        document = _decoded(body)
        if delivery.event == github.PING:
            return json_response(200, _ping(document)), "ping"

        def envelope(event_id: str) -> dict[str, Any]:
            event = github.github_event(delivery.event, document)
            return build_envelope(
                event.event_type, event.payload, source=delivery.source(), correlation_ids=(), event_id=event_id
            )

        return await self._publish_once("github", delivery.delivery_id, envelope)

    async def n8n(self, request: Request) -> tuple[Response, str]:
        n8n.signature_headers_present(request.headers)
        signatures = _switched_on(self.n8n_signatures, "n8n", "BLOODBANK_N8N_WEBHOOK_SECRET")
        await self._not_locked_out(request)
        body = await request.body()
        try:
            webhook_id = await signatures.verify(body, request.headers)
        except GatewayError as exc:
            if exc.status == 401:  # noqa: PLR2004 - a refused signature, not an id too long to keep
                await self._failed(request, "n8n")
            raise
        document = _decoded(body)
        source = {"host": self._host_of(request), "type": "webhook", "app": "n8n", "meta": {"webhook_id": webhook_id}}

        def envelope(event_id: str) -> dict[str, Any]:
            event = n8n.n8n_event(document)
            return build_envelope(
                event.event_type,
                event.payload,
                source=source,
                correlation_ids=event.correlation_ids,
                event_id=event_id,
            )

        return await self._publish_once("n8n", webhook_id, envelope)

    async def _publish_once(self, sender: str, key: str, envelope_of: EnvelopeOf) -> tuple[Response, str]:
        """Publish the event of delivery ``key`` unless it was published before; the answer and its outcome."""
        event_id = str(uuid.uuid5(WEBHOOK_NAMESPACE, f"{sender}\n{key}"))
        namespace = f"webhooks.{sender}"
        store = self.state.bus.idempotency if self.state.bus is not None else None
        async with self._locks.hold(f"{namespace}\n{key}"):  # a retry arriving while the first is in flight waits
            if store is not None and await _seen(store, namespace, key):
                log.info("webhook redelivered: answered, not published again", sender=sender, event_id=event_id)
                return answer([PublishOutcome(event_id)], batch=False), "duplicate"
            try:
                envelope = envelope_of(event_id)
            except InvalidEvent as exc:
                raise GatewayError(422, exc.issues) from exc
            try:
                outcomes = await self.state.publisher.publish_many([envelope])
            except BrokerUnavailable as exc:
                raise GatewayError.broker_unavailable(str(exc)) from exc
            if outcomes[0].ok and store is not None:
                await _remember(store, namespace, key)
            response = answer(outcomes, batch=False)  # raises the 422 or 503 of an event not published
            log.info("webhook published", sender=sender, event_id=event_id, event_type=envelope["event_type"])
            return response, "accepted"

    async def _not_locked_out(self, request: Request) -> None:
        address = _address(request)
        verdict = await self._take(address, cost=0)
        if not verdict.allowed:
            raise GatewayError.about_request(
                429,
                f"too many failed authentications from {address}; retry after {verdict.headers()['Retry-After']} s",
                headers=verdict.headers(),
            )

    async def _failed(self, request: Request, sender: str) -> None:
        address = _address(request)
        verdict = await self._take(address, cost=1)
        log.warning("webhook signature refused", sender=sender, source=address, attempts_left=verdict.remaining)

    async def _take(self, address: str, *, cost: int) -> Verdict:
        """From the bucket of failed authentications of ``address``, the one API keys fail into."""
        access = self.state.access
        try:
            return await access.limiter.take(f"auth-failures:{address}", access.failure_rate, cost=cost)
        except RateLimitUnavailable as exc:
            raise GatewayError.unavailable(f"rate limits cannot be checked: {exc}") from exc

    def _host_of(self, request: Request) -> str:
        client = request.client
        return client.host if client is not None and client.host else self.state.hostname


def _switched_on(value: _T | None, sender: str, setting: str) -> _T:
    if value is None:
        raise GatewayError.about_request(
            404, f"the {sender} webhook intake is off on this gateway: the operator turns it on by setting {setting}"
        )
    return value


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _decoded(body: bytes) -> Any:
    try:
        return decode_json(body)
    except InvalidJson as exc:  # not JSON, or a duplicate key, nesting too deep, U+0000, a number beyond a double
        raise GatewayError(422, [ValidationIssue(exc.path, exc.message)]) from exc


def _ping(document: object) -> dict[str, Any]:
    zen = document.get("zen") if isinstance(document, dict) else None
    hook_id = document.get("hook_id") if isinstance(document, dict) else None
    return {
        "zen": zen if isinstance(zen, str) else None,
        "hook_id": hook_id if isinstance(hook_id, int) and not isinstance(hook_id, bool) else None,
    }


async def _seen(store: IdempotencyStore, namespace: str, key: str) -> bool:
    try:
        return await store.seen(namespace, key)
    except (RedisError, OSError, sqlite3.Error) as exc:
        raise GatewayError.unavailable(f"earlier deliveries cannot be looked up: {exc}: nothing was published") from exc


async def _remember(store: IdempotencyStore, namespace: str, key: str) -> None:
    try:
        await store.remember(namespace, key)
    except (RedisError, OSError, sqlite3.Error) as exc:
        # The event is durable: answer so. A redelivery would publish it again, under the same id.
        log.warning("published webhook delivery not recorded", namespace=namespace, error=str(exc))


class _KeyedLocks:
    """A lock per key, held only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]


# --- The OpenAPI document ---------------------------------------------------------------------------------


def _header(name: str, description: str, *, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string", **schema},
        "description": description,
    }


_GITHUB_HEADERS = [
    _header(github.SIGNATURE_HEADER, "`sha256=` and the hex HMAC-SHA256 of the body under the hook's secret"),
    _header(github.EVENT_HEADER, "GitHub's event name, e.g. `pull_request`", pattern="^[a-z_]{1,64}$"),
    _header(
        github.DELIVERY_HEADER,
        "GitHub's id of the delivery: the idempotency key",
        minLength=1,
        maxLength=github.MAX_DELIVERY_ID,
    ),
    _header(github.HOOK_ID_HEADER, "The hook that sent it (kept in `source.meta`)", required=False),
    _header(github.ENTERPRISE_HOST_HEADER, "GitHub Enterprise Server's host (the source's host)", required=False),
]
_N8N_HEADERS = [
    _header(
        "webhook-id",
        "The notification's id, the same on n8n's retries: the idempotency key",
        minLength=1,
        maxLength=n8n.MAX_WEBHOOK_ID,
    ),
    _header(
        "webhook-timestamp",
        "Seconds since 1970 when it was signed, within 5 minutes of the gateway's clock",
        pattern="^[0-9]{1,12}$",
    ),
    _header("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`"),
]
_N8N_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["event", "workflow", "execution"],
    "description": "An n8n workflow notification; the fields of n8n's executions keep n8n's names "
    "(see docs/runbooks/webhooks.md)",
    "properties": {
        "event": {"type": "string", "enum": list(n8n.EVENTS)},
        "workflow": {"type": "object", "description": "`id` and `name` of the workflow"},
        "execution": {
            "type": "object",
            "description": "The execution as n8n describes it: `id`, `mode`, `retryOf`, `status`, `startedAt`, "
            "`stoppedAt`, `nodesExecuted`, `error`, `lastNodeExecuted`, or n8n's execution `data`",
        },
        "data": {"type": "object", "description": "started: the input of the workflow; completed: its output"},
        "correlation_ids": {
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "description": "The platform events that caused this execution (its parents)",
        },
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: documented("The signature is missing or does not match the body under the configured secret"),
    404: documented("This intake is off: its secret is not set on the gateway"),
    **BODY_ERRORS,
    422: documented(
        "The headers or the body cannot be the event: each problem at its path (`$.…` in the body sent, "
        "`$.payload.…` in the event it maps to)"
    ),
    429: documented("Too many failed authentications from this address; retry after `Retry-After` seconds"),
    503: documented("The broker did not confirm in time, or earlier deliveries cannot be looked up: retry"),
}


def _documented(headers: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """Headers and body, read by hand (the signature covers the raw body) but documented."""
    return {"parameters": headers, "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}
