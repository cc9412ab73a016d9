"""A stand-in OpenTelemetry collector for the pipeline benchmark: OTLP/HTTP traces in, decoded, counted.

It runs in a process of its own, as a collector beside a service would, and decodes each export
request (a collector's own first step) so that the traced figures pay what exporting really costs
the platform: encoding, sending, being answered. ``GET /spans`` says how many spans it received.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from gumdrop.telemetry import force_tracing

__all__ = ["export_traces_to", "otlp_collector", "spans_received"]

COLLECTOR_COMMAND = "from stack.bench.otlp_collector import main; main()"


def main() -> None:
    """Serve on a free port of 127.0.0.1, print the port, until terminated."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: PLC0415 - this process only
        ExportTraceServiceRequest,
    )

    received = 0

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal received
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            received += sum(len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans)
            self._answer(b"")

        def do_GET(self) -> None:
            self._answer(str(received).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
    print(server.server_address[1], flush=True)  # noqa: T201 - the benchmark reads the port
    server.serve_forever()


@asynccontextmanager
async def otlp_collector() -> AsyncIterator[str]:
    """The collector's base URL (what ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes), stopped afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COLLECTOR_COMMAND, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None  # noqa: S101 - started with stdout=PIPE
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


async def spans_received(endpoint: str) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{endpoint}/spans", timeout=10)).text)


def export_traces_to(endpoint: str, service: str) -> TracerProvider:
    """Install a provider that samples every span and exports in batches over OTLP/HTTP, as a traced service would.

    The platform's tracing stays off until :func:`gumdrop.telemetry.force_tracing` turns it on.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}), shutdown_on_exit=False)
    # A queue deep enough for a burst of thousands of events a second: the SDK's default (2,048 spans)
    # drops what it cannot hold, and a benchmark must pay for every span, not for a sample.
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2**17, max_export_batch_size=2048))
    trace.set_tracer_provider(provider)
    force_tracing(enabled=False)
    return provider
