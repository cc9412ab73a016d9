"""The FastAPI app of a service, built alike everywhere: request ids, Host names, security headers, body limits,
CORS for the UI, who may call it, the one error shape.

A service adds its routes to what :func:`service_api` returns, each declaring its scope with
:func:`gumdrop.access_control.requires`; what every API must do at its edge (limits, origins,
keys, error answers) is decided here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from gumdrop import http_errors
from gumdrop.access_control import API_KEY_HEADER, Access
from gumdrop.browser_safety import AllowedHosts, SecurityHeaders, api_security_headers
from gumdrop.http_errors import Translation
from gumdrop.http_limits import BodyRules, RequestLimits
from gumdrop.request_ids import REQUEST_ID_HEADER, RequestIds
from gumdrop.service_metrics import service_metrics
from gumdrop.telemetry import request_telemetry

__all__ = ["CORS_HEADERS", "EXPOSED_HEADERS", "ServiceApi", "service_api"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceApi:
    """What makes one service's API its own.

    ``name`` is how messages call it ("see /docs for the routes of the visibility API"),
    ``service`` how logs and metrics label it ("visibility"), ``registry`` what its ``/metrics`` serves,
    ``body_setting`` the environment variable that raises ``max_body_bytes``, ``methods``
    those a browser page on one of ``cors_origins`` may send, and ``access`` who may call it
    (its Host names included).
    """

    title: str
    description: str
    name: str
    service: str
    registry: CollectorRegistry
    max_body_bytes: int
    body_setting: str
    cors_origins: Sequence[str]
    methods: Sequence[str]
    translations: Mapping[type[Exception], Translation]
    body_errors: Mapping[int | str, dict[str, Any]]
    access: Access


CORS_HEADERS = ("content-type", "x-request-id", API_KEY_HEADER.lower(), "authorization")
"""The request headers a page of the UI may send: its key among them."""

EXPOSED_HEADERS = (REQUEST_ID_HEADER, "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
"""The answer headers a page of the UI may read."""


def service_api(spec: ServiceApi) -> FastAPI:
    """An app without routes, with ``spec``'s limits, origins and error answers."""
    # With keys, the interactive docs are off: their scripts come from a CDN. The OpenAPI document stays.
    docs = spec.access.is_open
    app = FastAPI(
        title=spec.title,
        version="1.0.0",
        description=spec.description,
        telemetry=request_telemetry(),
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.access = spec.access
    # Inside CORS, so that a refused body's answer carries the CORS headers the browser needs to read it.
    app.add_middleware(RequestLimits, rules=BodyRules(max_bytes=spec.max_body_bytes, setting=spec.body_setting))
    # The Candybar UI is served from its own origin and calls the APIs from the browser.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(spec.cors_origins),
        allow_methods=list(spec.methods),
        allow_headers=list(CORS_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
    )
    app.add_middleware(AllowedHosts, hosts=spec.access.allowed_hosts)
    app.add_middleware(SecurityHeaders, headers=api_security_headers(), docs_paths=("/docs", "/redoc"))
    # Outermost: every answer carries its id and is counted, a refused preflight, Host or body included.
    app.add_middleware(RequestIds, service=spec.service, metrics=service_metrics(spec.registry, spec.service))
    http_errors.install_error_handlers(
        app, service=spec.name, translations=spec.translations, body_errors=spec.body_errors
    )
    return app
