"""The UI server's app factory: the bundle, the settings the app reads, its probes, security headers, no bodies."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from candybar.bundle import SinglePageApp
from candybar.errors import error_response, install_error_handlers
from candybar.security import security_headers
from candybar.settings import CandybarSettings
from gumdrop.access_control import Access, requires
from gumdrop.browser_safety import AllowedHosts, SecurityHeaders
from gumdrop.health import metrics_routes
from gumdrop.principals import Scope as AccessScope
from gumdrop.request_ids import RequestIds
from gumdrop.service_metrics import service_metrics
from gumdrop.telemetry import request_telemetry

__all__ = ["NoRequestBody", "create_app"]


def create_app(settings: CandybarSettings | None = None, *, access: Access | None = None) -> FastAPI:
    """The Candybar server. Settings come from ``CANDYBAR_*`` when not given, ``access`` from ``PLATFORM_*``.

    ``GET /config.json`` tells the app where the other APIs are, ``GET /metrics`` how the server does
    (requests, process): with keys on, both need ``read``. Every other path is the app itself (its
    files, or ``index.html`` for its pages), open: the page must load to ask for a key.
    """
    settings = settings or CandybarSettings()
    access = access or Access.from_settings()
    bundle = SinglePageApp(settings.bundle_dir)
    app = FastAPI(
        title="Candybar",
        version="1.0.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=request_telemetry(),
    )
    app.state.access = access
    install_error_handlers(app)

    @app.get("/health/live")
    async def live() -> Response:
        return JSONResponse({"status": "live"})

    @app.get("/health/ready")
    async def ready() -> Response:
        if not bundle.built:
            return error_response(503, f"the UI bundle is missing in {settings.bundle_dir}: run `npm run build:ui`")
        return JSONResponse({"status": "ready"})

    @app.get("/config.json", dependencies=[requires(AccessScope.READ)])
    async def config() -> Response:
        return JSONResponse({"apis": settings.api_urls}, headers={"Cache-Control": "no-store"})

    registry = CollectorRegistry()
    app.include_router(metrics_routes(registry))
    app.mount("/", bundle, name="bundle")
    app.add_middleware(NoRequestBody)
    app.add_middleware(AllowedHosts, hosts=access.allowed_hosts)
    app.add_middleware(SecurityHeaders, headers=security_headers(settings.api_urls.values()))
    app.add_middleware(RequestIds, service="candybar", metrics=service_metrics(registry, "candybar"))
    return app


class NoRequestBody:
    """ASGI middleware: the UI server reads no request body, so a GET or HEAD with one is refused (413) unread.

    Any other method is answered 405 by the routes, equally without reading the body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in {"GET", "HEAD"}:
            headers = Headers(scope=scope)
            if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
                message = "the UI server takes no request body: send GET and HEAD without one"
                await error_response(413, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
