"""``GET /health/live``, ``GET /health/ready`` (database, broker, and whether deliveries move) and ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from candystore.api.errors import RETRY_AFTER_SECONDS, ApiError, error_responses
from candystore.store import EventStore, StoreError
from gumdrop.http_errors import json_response
from holyfields import ValidationIssue

__all__ = ["health_routes"]


def health_routes(
    store: EventStore,
    registry: CollectorRegistry,
    *,
    broker_connected: Callable[[], bool] | None,
    readiness: Callable[[], Sequence[str]] | None = None,
) -> APIRouter:
    """The probes and metrics; ``readiness`` (e.g. :meth:`candystore.readiness.Readiness.problems`) says what
    else holds the service back, one sentence per problem."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up", operation_id="checkLiveness")
    async def live() -> Response:
        return json_response(200, {"status": "live"})

    @router.get(
        "/health/ready",
        operation_id="checkReadiness",
        summary="The database answers, the broker is connected and does not block publishing, deliveries move",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ready", "database": "ok", "broker": "ok"}}}},
            **error_responses(503),
        },
    )
    async def ready() -> Response:
        problems: list[ValidationIssue] = []
        try:
            await store.ping()
        except StoreError as exc:
            problems.append(ValidationIssue("", f"database: {exc}"))
        broker = "not configured"
        if broker_connected is not None:
            broker = "ok" if broker_connected() else "disconnected"
            if broker != "ok":
                problems.append(ValidationIssue("", "broker: not connected; the transport is reconnecting"))
        if readiness is not None:
            problems.extend(ValidationIssue("", problem) for problem in readiness())
        if problems:
            raise ApiError(503, problems, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return json_response(200, {"status": "ready", "database": "ok", "broker": broker})

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
