"""``GET /health/live``, ``GET /health/ready`` (database and broker) and ``GET /metrics``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from holyfields import ValidationIssue
from visibility.api.errors import RETRY_AFTER_SECONDS, ApiError, error_responses
from visibility.api.models import LiveModel, ReadyModel
from visibility.store import StoreError, VisibilityStore

__all__ = ["health_routes"]


def health_routes(
    store: VisibilityStore, registry: CollectorRegistry, *, broker_connected: Callable[[], bool] | None
) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up", response_model=LiveModel, operation_id="checkLiveness")
    async def live() -> LiveModel:
        return LiveModel(status="live")

    @router.get(
        "/health/ready",
        summary="The database answers and the broker is connected",
        operation_id="checkReadiness",
        response_model=ReadyModel,
        responses=error_responses(503),
    )
    async def ready() -> ReadyModel:
        problems: list[ValidationIssue] = []
        try:
            await store.ping()
        except StoreError as exc:
            problems.append(ValidationIssue("", f"database: {exc}"))
        broker: Literal["ok", "not configured"] = "not configured"
        if broker_connected is not None:
            if broker_connected():
                broker = "ok"
            else:
                problems.append(ValidationIssue("", "broker: not connected; the transport is reconnecting"))
        if problems:
            raise ApiError(503, problems, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return ReadyModel(status="ready", database="ok", broker=broker)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        operation_id="getMetrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The Prometheus text format"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
