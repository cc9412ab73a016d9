"""``GET /health/live``, ``GET /health/ready`` and ``GET /metrics``: open to probes and scrapers, no key needed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bloodbank.gateway.errors import GatewayError, json_response
from bloodbank.gateway.state import GatewayState

__all__ = ["health_routes"]

_LIVE = {"status": "live"}


def health_routes(state: GatewayState) -> APIRouter:
    """The probes and metrics of one gateway."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="The process is up", operation_id="checkLiveness")
    async def live() -> Response:
        return json_response(200, _LIVE)

    @router.get(
        "/health/ready",
        operation_id="checkReadiness",
        summary="Connected to the broker, with the topology verified, and publishing is not blocked",
        responses={
            200: {"content": {"application/json": {"example": {"status": "ready", "transport": "embedded"}}}},
            503: {
                "description": "Not connected, the topology not verified, or the broker blocks publishing (a memory "
                "or disk alarm): do not route traffic here"
            },
        },
    )
    async def ready() -> Response:
        if state.bus is None or not state.topology_verified:
            raise GatewayError.about_request(
                503, "the gateway has not started: the topology is not verified", headers={"Retry-After": "1"}
            )
        if not state.bus.transport.connected:
            raise GatewayError.about_request(
                503, "the broker is not connected; the transport is reconnecting", headers={"Retry-After": "5"}
            )
        if state.bus.transport.blocked:
            raise GatewayError.about_request(
                503,
                "the broker has blocked publishing (a memory or disk alarm): events would wait for their confirm "
                "until it clears; free memory or disk space on the broker",
                headers={"Retry-After": "5"},
            )
        return json_response(200, {"status": "ready", "transport": state.bus.transport.name})

    @router.get(
        "/metrics",
        operation_id="getMetrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The Prometheus text format"}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
