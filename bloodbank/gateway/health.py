"""``GET /health/live``, ``GET /health/ready`` and ``GET /metrics`` (:mod:`gumdrop.health`): the probes are open,
the metrics need ``read`` when keys are on. The gateway is ready once connected, with the topology verified, and not
blocked."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from bloodbank.gateway.state import GatewayState
from gumdrop.health import Readiness, health_routes

__all__ = ["gateway_health_routes"]

_BLOCKED = (
    "the broker has blocked publishing (a memory or disk alarm): events would wait for their confirm "
    "until it clears; free memory or disk space on the broker"
)


class GatewayReadyModel(BaseModel):
    status: Literal["ready"]
    transport: Literal["embedded", "rabbitmq"]


def gateway_health_routes(state: GatewayState) -> APIRouter:
    """The probes and metrics of one gateway."""

    async def check() -> Readiness:
        bus = state.bus
        if bus is None or not state.topology_verified:
            return Readiness({}, ["the gateway has not started: the topology is not verified"], retry_after=1)
        if not bus.transport.connected:
            return Readiness({}, ["the broker is not connected; the transport is reconnecting"])
        if bus.transport.blocked:
            return Readiness({}, [_BLOCKED])
        return Readiness({"status": "ready", "transport": bus.transport.name})

    return health_routes(
        check,
        state.metrics.registry,
        ready_when="Connected to the broker, with the topology verified, and publishing is not blocked",
        ready_model=GatewayReadyModel,
    )
