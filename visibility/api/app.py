"""The visibility API factory: conflicts and their actions, the OKR figures, health and metrics.

The API owns no background work: whoever runs the layer (``visibility.service``) builds
the store, the lifecycle, the metrics and their registry, and hands them in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gumdrop.http_limits import BodyRules, RequestLimits
from visibility.api.conflicts import conflict_routes
from visibility.api.errors import install_error_handlers
from visibility.api.health import health_routes
from visibility.api.okr import okr_routes
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

__all__ = ["create_api"]

_DESCRIPTION = """\
The visibility layer: conflicts between teams' customer-facing decisions and the
inventory truth, their lifecycle (acknowledge, then fix, accept or dispute; escalation
after 24 h and 72 h), and the shared OKR "Accuracy to Reality" with its conflict rate per
hour. Every error answer has one shape: `{"errors": [{"path", "message"}]}`.
"""


def create_api(
    store: VisibilityStore,
    *,
    settings: VisibilitySettings,
    lifecycle: Lifecycle,
    metrics: VisibilityMetrics,
    broker_connected: Callable[[], bool] | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The HTTP API over ``store``; ``broker_connected`` makes ``/health/ready`` report the broker too.

    ``now`` is the clock the OKR period ends at (the wall clock by default).
    """
    app = FastAPI(title="Visibility", version="1.0.0", description=_DESCRIPTION)
    # Inside CORS, so that a refused body's answer carries the CORS headers the browser needs to read it.
    app.add_middleware(
        RequestLimits, rules=BodyRules(max_bytes=settings.max_body_bytes, setting="VISIBILITY_MAX_BODY_BYTES")
    )
    # The Candybar UI is served from its own origin and calls this API from the browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["content-type"],
    )
    install_error_handlers(app)
    app.include_router(conflict_routes(store, lifecycle))
    app.include_router(okr_routes(store, settings=settings, metrics=metrics, now=now))
    app.include_router(health_routes(store, metrics.registry, broker_connected=broker_connected))
    return app
