"""What every service exports on ``/metrics`` beside its own metrics (design.md, "Metrics (wave 2 additions)").

``http_requests_total{service,route,status}`` and ``http_request_duration_seconds{service,route}``
count the requests :class:`gumdrop.request_ids.RequestIds` sees; ``process_*`` and
``platform_build_info{version}`` say which process and which release answers.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

__all__ = ["HTTP_BUCKETS", "HttpMetrics", "platform_version", "service_metrics"]

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; a query's p95 target is 50 ms and a publish's a few ms, so the buckets are fine below 0.1 s."""

UNMATCHED_ROUTE = "unmatched"
"""The route label of a request no route took: the path itself would let any caller grow the label set."""


@cache
def platform_version() -> str:
    """The installed release of the platform (``0.0.0`` when run from a tree that was never installed)."""
    try:
        return version("33god")
    except PackageNotFoundError:
        return "0.0.0"


class HttpMetrics:
    """HTTP requests of one service, by route template (never the raw path) and status."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self._children: dict[tuple[str | None, int], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered (WebSockets when they end), by route template and status.",
            ["service", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "From a request's arrival to the end of its answer, by route template.",
            ["service", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str | None, status: int, seconds: float) -> None:
        """Count one answered request; ``route`` is ``None`` when no route took it."""
        children = self._children.get((route, status))
        if children is None:  # labelled children looked up once per route and status, not per request
            label = route or UNMATCHED_ROUTE
            children = self._children[route, status] = (
                self.requests.labels(self.service, label, str(status)),
                self.duration.labels(self.service, label),
            )
        count, duration = children
        count.inc()
        duration.observe(seconds)


_REGISTERED: WeakKeyDictionary[CollectorRegistry, HttpMetrics] = WeakKeyDictionary()


def service_metrics(registry: CollectorRegistry, service: str) -> HttpMetrics:
    """Register the process and build metrics on ``registry`` (once); the HTTP metrics to hand to the middleware.

    An app built twice over one registry (a bus shared by two gateways) shares its metrics.
    """
    if (known := _REGISTERED.get(registry)) is not None:
        return known
    ProcessCollector(registry=registry)
    Gauge(
        "platform_build_info",
        "Always 1: the release of the platform this process runs.",
        ["version"],
        registry=registry,
    ).labels(platform_version()).set(1)
    _REGISTERED[registry] = metrics = HttpMetrics(registry, service)
    return metrics
