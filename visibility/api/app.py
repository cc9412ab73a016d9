"""The visibility API factory: conflicts and their actions, the OKR figures, health and metrics.

The API owns no background work: whoever runs the layer (``visibility.service``) builds
the store, the lifecycle, the metrics and their registry, and hands them in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from gumdrop.access_control import Access
from gumdrop.health import StoreReadiness, health_routes
from gumdrop.service_api import ServiceApi, service_api
from visibility.api.conflicts import conflict_routes
from visibility.api.errors import BODY_ERRORS, TRANSLATIONS
from visibility.api.okr import okr_routes
from visibility.api.rules import rule_routes
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.rules import RuleSet
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

__all__ = ["create_api"]

_DESCRIPTION = """\
The visibility layer: conflicts between teams' customer-facing decisions and the
inventory truth, their lifecycle (acknowledge, then fix, accept or dispute, one conflict at
a time or many with one note; escalation after 24 h and 72 h), and the shared OKR
"Accuracy to Reality" with its conflict rate per hour, and the rules in force with the share
of each one's conflicts that were disputed. Every error answer has one shape:
`{"errors": [{"path", "message"}]}`.
"""


def create_api(
    store: VisibilityStore,
    *,
    settings: VisibilitySettings,
    lifecycle: Lifecycle,
    metrics: VisibilityMetrics,
    access: Access,
    rules: Callable[[], RuleSet],
    broker_connected: Callable[[], bool] | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The HTTP API over ``store``, ``rules`` giving the rules in force (they change with the file).

    ``broker_connected`` makes ``/health/ready`` report the broker too.

    ``now`` is the clock the OKR period ends at (the wall clock by default).
    """
    app = service_api(
        ServiceApi(
            title="Visibility",
            description=_DESCRIPTION,
            name="the visibility API",
            service="visibility",
            registry=metrics.registry,
            max_body_bytes=settings.max_body_bytes,
            body_setting="VISIBILITY_MAX_BODY_BYTES",
            cors_origins=settings.cors_origins,
            methods=("GET", "POST"),
            translations=TRANSLATIONS,
            body_errors=BODY_ERRORS,
            access=access,
        )
    )
    app.include_router(conflict_routes(store, lifecycle))
    app.include_router(okr_routes(store, settings=settings, metrics=metrics, now=now))
    app.include_router(rule_routes(store, rules, now=now))
    app.include_router(
        health_routes(
            StoreReadiness(store.ping, broker_connected),
            metrics.registry,
            ready_when="The database answers and the broker is connected",
        )
    )
    return app
