"""The gateway's app factory: routes, error shape, who may call it, and a lifespan that runs the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bloodbank.bus import Bus
from bloodbank.gateway.errors import install_error_handlers
from bloodbank.gateway.events import event_routes
from bloodbank.gateway.health import gateway_health_routes
from bloodbank.gateway.state import GatewayState
from bloodbank.gateway.webhooks import webhook_routes
from bloodbank.metrics import BloodbankMetrics
from bloodbank.openapi import event_components
from bloodbank.settings import BloodbankSettings
from gumdrop.access_control import Access, requires
from gumdrop.browser_safety import AllowedHosts, SecurityHeaders, api_security_headers
from gumdrop.http_limits import BodyRules, RequestLimits
from gumdrop.principals import Scope
from gumdrop.request_ids import RequestIds
from gumdrop.service_api import CORS_HEADERS, EXPOSED_HEADERS
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
    settings: BloodbankSettings | None = None,
    *,
    bus: Bus | None = None,
    catalog: Catalog | None = None,
    access: Access | None = None,
) -> FastAPI:
    """The HTTP gateway. Settings come from ``BLOODBANK_*`` when not given, ``access`` from ``PLATFORM_*``.

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
    access = access or Access.from_settings(origins=settings.cors_origins)
    metrics = bus.metrics if bus is not None else BloodbankMetrics()
    state = GatewayState(settings, validator=validator, metrics=metrics, access=access, bus=bus)

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
        # With keys, the interactive docs are off: their scripts come from a CDN. The OpenAPI document stays.
        docs_url="/docs" if access.is_open else None,
        redoc_url="/redoc" if access.is_open else None,
    )
    app.state.gateway = state
    app.state.access = access
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
        allow_headers=[*CORS_HEADERS, "webhook-id", "webhook-timestamp", "webhook-signature"],
        expose_headers=list(EXPOSED_HEADERS),
    )
    app.add_middleware(AllowedHosts, hosts=access.allowed_hosts)
    app.add_middleware(SecurityHeaders, headers=api_security_headers(), docs_paths=("/docs", "/redoc"))
    # Outermost: every answer carries its id, a refused preflight, Host or body included.
    app.add_middleware(RequestIds, service="bloodbank", metrics=service_metrics(state.metrics.registry, "bloodbank"))
    install_error_handlers(app)
    _document_events(app, catalog)
    app.include_router(event_routes(state))
    app.include_router(webhook_routes(state))
    app.include_router(
        schema_router(catalog), dependencies=[requires(Scope.READ)], responses={404: {"description": "Not found"}}
    )
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
