"""A small HTTP/1.1 load generator: keep-alive connections, one request in flight on each.

Lean on purpose (no client library per request): at a few thousand requests per second
on two cores, the load generator must cost far less than the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

__all__ = ["LoadResult", "exchange", "request_bytes", "run_load"]


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def request_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, result: LoadResult
) -> None:
    """Send one request on a keep-alive connection, read its whole answer, count its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    result.statuses[status] = result.statuses.get(status, 0) + 1
    result.requests += 1


async def _connection(  # noqa: PLR0917 - one call site, all positional for brevity
    host: str, port: int, requests: list[bytes], deadline: float, result: LoadResult, offset: int
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = offset
    try:
        while time.perf_counter() < deadline:
            await exchange(reader, writer, requests[index % len(requests)], result)
            index += 1
    finally:
        writer.close()
        await writer.wait_closed()


async def run_load(host: str, port: int, requests: list[bytes], *, seconds: float, connections: int) -> LoadResult:
    """Send ``requests`` round-robin over ``connections`` keep-alive connections for ``seconds``."""
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(host, port, requests, deadline, result, offset=i) for i in range(connections)))
    result.seconds = time.perf_counter() - started
    return result
