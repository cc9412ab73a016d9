"""The gateway's app factory: routes, error shape, API keys, and a lifespan that runs the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bloodbank.bus import Bus
from bloodbank.gateway.auth import api_key_guard
from bloodbank.gateway.errors import install_error_handlers
from bloodbank.gateway.events import event_routes
from bloodbank.gateway.health import gateway_health_routes
from bloodbank.gateway.state import GatewayState
from bloodbank.metrics import BloodbankMetrics
from bloodbank.openapi import event_components
from bloodbank.settings import BloodbankSettings
from gumdrop.http_limits import BodyRules, RequestLimits
from gumdrop.request_ids import REQUEST_ID_HEADER, RequestIds
from gumdrop.service_metrics import service_metrics
from gumdrop.telemetry import request_telemetry
from holyfields import Catalog, EventValidator, default_catalog, default_validator
from holyfields.api import schema_router

__all__ = ["create_gateway"]

_DESCRIPTION = """\
Publish events to the Bloodbank bus over HTTP. An event is answered `202` only once the broker
confirmed it durably. Every error answer has one shape: `{"errors": [{"path", "message"}]}`.
"""


def create_gateway(
    settings: BloodbankSettings | None = None, *, bus: Bus | None = None, catalog: Catalog | None = None
) -> FastAPI:
    """The HTTP gateway. Settings come from ``BLOODBANK_*`` when not given.

    Without ``bus``, the lifespan starts one from the settings (connect, declare the topology)
    and closes it on shutdown, after the requests in flight; a given ``bus`` stays its owner's,
    and its topology is verified at start.
    """
    settings = settings or (bus.settings if bus is not None else BloodbankSettings())
    if bus is not None:
        validator = bus.validator
    elif catalog is None or catalog is default_catalog():
        validator = default_validator()  # compiled once per process
    else:
        validator = EventValidator(catalog)
    catalog = validator.catalog
    state = GatewayState(
        settings, validator=validator, metrics=bus.metrics if bus is not None else BloodbankMetrics(), bus=bus
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="Bloodbank gateway",
        version="1.0.0",
        description=_DESCRIPTION,
        lifespan=lifespan,
        telemetry=request_telemetry(),
    )
    app.state.gateway = state
    # Inside CORS, so that a refused body's answer carries the CORS headers the browser needs to read it.
    app.add_middleware(
        RequestLimits,
        rules=BodyRules(
            max_bytes=settings.max_body_bytes,
            setting="BLOODBANK_MAX_BODY_BYTES",
            advice="send fewer or smaller events",
            structured_json=True,
            strict_json=False,  # the routes decode the body once, strictly (events.py)
        ),
    )
    # The Candybar UI is served from its own origin and calls the gateway from the browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["content-type", "x-api-key", "authorization", "x-request-id"],
        expose_headers=[REQUEST_ID_HEADER],
    )
    # Outermost: every answer carries its id, a refused preflight or body included.
    app.add_middleware(RequestIds, service="bloodbank", metrics=service_metrics(state.metrics.registry, "bloodbank"))
    install_error_handlers(app)
    _document_events(app, catalog)
    guarded = [Depends(api_key_guard(settings.api_keys))] if settings.api_keys else []
    app.include_router(event_routes(state), dependencies=guarded)
    app.include_router(schema_router(catalog), dependencies=guarded, responses={404: {"description": "Not found"}})
    app.include_router(gateway_health_routes(state))
    return app


def _document_events(app: FastAPI, catalog: Catalog) -> None:
    """Add the typed events of ``catalog`` (what ``POST /events`` takes) to the app's OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generate()["components"]["schemas"].update(event_components(catalog))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
