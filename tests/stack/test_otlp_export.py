"""Traces leave the process over OTLP/HTTP when the standard ``OTEL_*`` variables say so.

``33god up`` runs as its own process with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a
receiver in this test, which decodes the protobuf export requests as a collector would.
Without any ``OTEL_*`` variable nothing is exported, and a value the platform cannot honour
ends the command in one line.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2 as httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from gumdrop.telemetry import InvalidTelemetrySetting, exporter_names
from holyfields import default_catalog
from tests.stack.test_up import BIN, free_port, wait_until_serving

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]


class _Collector:
    """Spans received on ``POST /v1/traces``: (service.name, trace id, span name) each."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {item.key: item.value.string_value for item in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((attributes.get("service.name", ""), span.trace_id.hex(), span.name))

    def names_in(self, trace_id: str) -> set[str]:
        with self.lock:
            return {name for _, trace, name in self.spans if trace == trace_id}


@contextmanager
def collector() -> Iterator[tuple[_Collector, int]]:
    received = _Collector()

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            status = 200 if self.path == "/v1/traces" else 404
            if status == 200:
                received.take(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_up_exports_its_spans_over_otlp_http(tmp_path: Path) -> None:
    port, store_port, ui_port, visibility_port = free_port(), free_port(), free_port(), free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BLOODBANK_", "CANDYSTORE_", "VISIBILITY_", "OTEL_"))
    }
    with collector() as (received, collector_port):
        environment |= {
            "NO_COLOR": "1",
            "BLOODBANK_DATA_DIR": str(tmp_path),
            "CANDYSTORE_DATA_DIR": str(tmp_path),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports: the test waits less
        }
        process = subprocess.Popen(
            [
                str(BIN / "33god"),
                "up",
                "--port",
                str(port),
                "--candystore-port",
                str(store_port),
                "--candybar-port",
                str(ui_port),
                "--visibility-port",
                str(visibility_port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/health/ready", process)
            accepted = httpx.post(
                f"http://127.0.0.1:{port}/events",
                json={"event_type": "retail.offer.surfaced.v1", "payload": OFFER},
                headers={"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01"},
                timeout=10,
            )
            assert accepted.status_code == 202, accepted.text
            expected = {
                "POST /events",
                "publish retail.offer.surfaced.v1",
                "process candystore.events",
                "write candystore.events",
                "process visibility.detector",
                "detect retail.offer.surfaced.v1",
            }
            deadline = time.monotonic() + 30
            while not expected <= received.names_in(CALLER_TRACE) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert expected <= received.names_in(CALLER_TRACE), received.spans
            assert {service for service, _, _ in received.spans} == {"33god"}
            # Probes and scrapes are not traced.
            assert not any("/health" in name or "/metrics" in name for _, _, name in received.spans)
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_tracing_is_off_unless_an_exporter_or_endpoint_is_set(environ: dict[str, str], exporters: list[str]) -> None:
    assert exporter_names(environ) == exporters


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "PROTOCOL"),
    ],
)
def test_a_setting_the_platform_cannot_honour_is_named(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(InvalidTelemetrySetting, match=variable):
        exporter_names(environ)


def test_a_bad_otel_setting_ends_serve_in_one_line(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environment |= {"OTEL_TRACES_EXPORTER": "zipkin", "CANDYSTORE_DATA_DIR": str(tmp_path), "NO_COLOR": "1"}
    finished = subprocess.run(
        [str(BIN / "candystore"), "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        "invalid setting OTEL_TRACES_EXPORTER: expected otlp, console or none, got 'zipkin'"
    ]
