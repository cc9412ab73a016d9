"""The UI server's app factory: the bundle, the settings the app reads, its probes and security headers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from candybar.bundle import SinglePageApp
from candybar.errors import error_response, install_error_handlers
from candybar.security import SecurityHeaders, security_headers
from candybar.settings import CandybarSettings

__all__ = ["create_app"]


def create_app(settings: CandybarSettings | None = None) -> FastAPI:
    """The Candybar server. Settings come from ``CANDYBAR_*`` when not given.

    ``GET /config.json`` tells the app where the other APIs are; every other path is the
    app itself (its files, or ``index.html`` for its pages).
    """
    settings = settings or CandybarSettings()
    bundle = SinglePageApp(settings.bundle_dir)
    app = FastAPI(title="Candybar", version="1.0.0", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)

    @app.get("/health/live")
    async def live() -> Response:
        return JSONResponse({"status": "live"})

    @app.get("/health/ready")
    async def ready() -> Response:
        if not bundle.built:
            return error_response(503, f"the UI bundle is missing in {settings.bundle_dir}: run `npm run build:ui`")
        return JSONResponse({"status": "ready"})

    @app.get("/config.json")
    async def config() -> Response:
        return JSONResponse({"apis": settings.api_urls}, headers={"Cache-Control": "no-store"})

    app.mount("/", bundle, name="bundle")
    app.add_middleware(SecurityHeaders, headers=security_headers(settings.api_urls.values()))
    return app
