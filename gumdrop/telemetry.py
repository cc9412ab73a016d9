"""OpenTelemetry traces from the standard ``OTEL_*`` variables, set up once per command (design.md, "Logs and traces").

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter or an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); ``OTEL_SDK_DISABLED=true``
keeps it off. Spans go out in batches over OTLP/HTTP (``otlp``) or to stderr (``console``); the
sampler (``OTEL_TRACES_SAMPLER``), the exporter's endpoint, headers and timeout, and the resource
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) are the SDK's own readings of the
environment. While tracing is off, the platform makes no span at all: :func:`tracing_enabled` is
what the hot paths ask.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

__all__ = [
    "InvalidTelemetrySetting",
    "exporter_names",
    "force_tracing",
    "request_telemetry",
    "traces_from_environment",
    "tracing_enabled",
]

_UNTRACED_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapes: many a minute, nothing to learn from their traces."""

_EXPORTERS = ("otlp", "console", "none")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


class InvalidTelemetrySetting(ValueError):
    """An ``OTEL_*`` variable holds a value the platform cannot honour; ``str()`` names the variable."""


_forced: bool | None = None
_installed = False  # the global provider is set once: seen to be the SDK's, it stays so


def tracing_enabled() -> bool:
    """Whether the platform makes spans: an SDK tracer provider is installed (by a command, or by the application
    embedding the platform), unless :func:`force_tracing` said otherwise."""
    global _installed  # noqa: PLW0603 - a cache of the global provider's kind
    if _forced is not None:
        return _forced
    if not _installed:
        _installed = isinstance(trace.get_tracer_provider(), TracerProvider)
    return _installed


def force_tracing(*, enabled: bool | None) -> None:
    """Make spans (``True``) or none (``False``) whatever provider is installed; ``None`` goes back to asking it.

    For a process whose one global provider outlives the parts traced in it, a test suite's say.
    """
    global _forced  # noqa: PLW0603 - one switch for the process, as the provider it overrides
    _forced = enabled


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The trace exporters ``environ`` asks for; empty when tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    for name in named:
        if name not in _EXPORTERS:
            raise InvalidTelemetrySetting(
                f"invalid setting OTEL_TRACES_EXPORTER: expected otlp, console or none, got {name!r}"
            )
    if not named:
        named = ["otlp"] if any(environ.get(variable) for variable in _ENDPOINTS) else []
    for variable in _PROTOCOLS:
        protocol = environ.get(variable, "").strip().lower()
        if "otlp" in named and protocol and protocol != "http/protobuf":
            raise InvalidTelemetrySetting(
                f"invalid setting {variable}: the platform exports over http/protobuf, got {protocol!r}"
            )
    return [name for name in named if name != "none"]


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    # Imported only when asked for: the OTLP exporter pulls in protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    return OTLPSpanExporter()


@contextmanager
def traces_from_environment(service: str, environ: Mapping[str, str] = os.environ) -> Iterator[bool]:
    """Trace the command while the block runs, if ``environ`` asks for it; yields whether it does.

    ``service`` is the ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise. On the way
    out, the spans still in memory are exported before the command ends.
    """
    names = exporter_names(environ)
    if not names:
        yield False
        return
    resource = Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    try:
        yield True
    finally:
        provider.shutdown()


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")) in _UNTRACED_PATHS


def request_telemetry() -> TelemetryConfig:
    """FastAPI's own telemetry for a service's app: with tracing on, each request is a server span continuing the
    caller's ``traceparent``; nothing else (the platform's metrics and logs are its own, and FastAPI's logs of a
    refused request would quote its body)."""
    return {
        "tracing": tracing_enabled(),
        "operation_spans": False,
        "metrics": False,
        "logs": False,
        "auto_configure": False,
        "exclude": _untraced,
    }
