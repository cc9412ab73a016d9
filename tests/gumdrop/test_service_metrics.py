"""Every service counts its HTTP requests by route template and status, and says which process and release answers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.websockets import WebSocketDisconnect

from gumdrop.health import metrics_routes
from gumdrop.request_ids import RequestIds
from gumdrop.service_metrics import platform_version, service_metrics


def _app(registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()

    @app.get("/events/{event_id}")
    async def one(event_id: str) -> dict[str, str]:
        return {"event_id": event_id}

    @app.websocket("/events/stream")
    async def stream(socket: WebSocket) -> None:
        if socket.query_params.get("refuse"):
            await socket.close(code=1008)
            return
        await socket.accept()
        await socket.send_json({"hello": 1})
        await socket.close()

    app.include_router(metrics_routes(registry))
    app.add_middleware(RequestIds, service="things", metrics=service_metrics(registry, "things"))
    return app


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(registry), base_url="http://localhost")
    for event_id in ("a", "b", "c"):
        assert client.get(f"/events/{event_id}").status_code == 200
    assert client.post("/events/a").status_code == 405
    for probe in ("/wp-admin", "/.env", "/events/a/b"):
        assert client.get(probe).status_code == 404
    route = "/events/{event_id}"
    assert _sample(registry, "http_requests_total", service="things", route=route, status="200") == 3
    assert _sample(registry, "http_requests_total", service="things", route=route, status="405") == 1
    assert _sample(registry, "http_requests_total", service="things", route="unmatched", status="404") == 3
    assert _sample(registry, "http_request_duration_seconds_count", service="things", route=route) == 4
    exposed = client.get("/metrics").text
    assert "wp-admin" not in exposed  # a caller cannot grow the label set
    assert f'platform_build_info{{version="{platform_version()}"}} 1.0' in exposed
    assert "process_start_time_seconds" in exposed


def test_websockets_are_counted_accepted_or_refused() -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(registry), base_url="http://localhost")
    with client.websocket_connect("ws://localhost/events/stream") as socket:
        assert socket.receive_json() == {"hello": 1}
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("ws://localhost/events/stream?refuse=1") as socket,
    ):
        socket.receive_json()
    route = "/events/stream"
    assert _sample(registry, "http_requests_total", service="things", route=route, status="101") == 1
    assert _sample(registry, "http_requests_total", service="things", route=route, status="403") == 1


def test_an_app_built_twice_over_one_registry_shares_its_metrics() -> None:
    registry = CollectorRegistry()
    first, second = TestClient(_app(registry), base_url="http://localhost"), TestClient(_app(registry))
    first.get("/events/a")
    second.get("/events/a")
    route = "/events/{event_id}"
    assert _sample(registry, "http_requests_total", service="things", route=route, status="200") == 2
