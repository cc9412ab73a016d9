"""``GET /health/live``, ``GET /health/ready`` and ``GET /metrics``, alike in every service.

Live says the process answers. Ready runs the service's :data:`ReadinessCheck`: 200 with what
each dependency reports, or 503 with every problem (one sentence each) and ``Retry-After``.
:class:`StoreReadiness` is the check of a service with a database and a bus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from gumdrop.access_control import requires
from gumdrop.http_errors import RETRY_AFTER_SECONDS, ApiError, documented, json_response
from gumdrop.issues import ValidationIssue
from gumdrop.principals import Scope
from gumdrop.store_errors import StoreError

__all__ = [
    "LiveModel",
    "Readiness",
    "ReadinessCheck",
    "ReadyModel",
    "StoreReadiness",
    "health_routes",
    "metrics_routes",
]


class LiveModel(BaseModel):
    status: Literal["live"]


class ReadyModel(BaseModel):
    """A ready service: its database answers and its broker, if it has one, is connected."""

    status: Literal["ready"]
    database: Literal["ok"]
    broker: Literal["ok", "not configured"] = Field(description="`not configured` when the service runs without a bus")


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/health/ready`` answers: ``report`` when there is no problem, else the ``problems``."""

    report: Mapping[str, str]
    problems: Sequence[str] = ()
    retry_after: int = RETRY_AFTER_SECONDS


ReadinessCheck = Callable[[], Awaitable[Readiness]]


@dataclass(frozen=True, slots=True)
class StoreReadiness:
    """Ready when the database answers ``ping``, the broker is connected (if there is one) and ``others`` is silent.

    ``others`` says what else holds the service back, one sentence per problem.
    """

    ping: Callable[[], Awaitable[None]]
    broker_connected: Callable[[], bool] | None = None
    others: Callable[[], Sequence[str]] = field(default=lambda: ())

    async def __call__(self) -> Readiness:
        problems: list[str] = []
        try:
            await self.ping()
        except StoreError as exc:
            problems.append(f"database: {exc}")
        broker = "not configured"
        if self.broker_connected is not None:
            broker = "ok" if self.broker_connected() else "disconnected"
            if broker != "ok":
                problems.append("broker: not connected; the transport is reconnecting")
        problems.extend(self.others())
        return Readiness({"status": "ready", "database": "ok", "broker": broker}, problems)


def health_routes(
    check: ReadinessCheck,
    registry: CollectorRegistry,
    *,
    ready_when: str,
    ready_model: type[BaseModel] = ReadyModel,
) -> APIRouter:
    """The probes and metrics; ``ready_when`` is the summary of ``/health/ready``, ``ready_model`` its 200 answer."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up", operation_id="checkLiveness", response_model=LiveModel)
    async def live() -> Response:
        return json_response(200, {"status": "live"})

    @router.get(
        "/health/ready",
        operation_id="checkReadiness",
        summary=ready_when,
        response_model=ready_model,
        responses={503: documented("Not ready, saying why (every problem): do not route traffic here yet")},
    )
    async def ready() -> Response:
        readiness = await check()
        if readiness.problems:
            issues = [ValidationIssue("", problem) for problem in readiness.problems]
            raise ApiError(503, issues, headers={"Retry-After": str(readiness.retry_after)})
        return json_response(200, dict(readiness.report))

    router.include_router(metrics_routes(registry))
    return router


def metrics_routes(registry: CollectorRegistry) -> APIRouter:
    """``GET /metrics``: ``registry`` in the Prometheus text format, for clients with ``read`` when keys are on."""
    router = APIRouter(dependencies=[requires(Scope.READ)])

    @router.get(
        "/metrics",
        operation_id="getMetrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The Prometheus text format"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
