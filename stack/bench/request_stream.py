"""An HTTP/1.1 load generator whose requests each go out once: a signed request must not be sent twice.

The same load as :func:`stack.bench.http_load.run_load` (keep-alive connections, one request
in flight on each, the same lean parsing), but every connection takes its next request from
one shared iterator instead of walking a list from its own offset: the gateway refuses a
replayed ``webhook-id``. Given an endless iterator (``itertools.cycle`` over unsigned
requests), it costs the client the same per request, so signed and unsigned runs compare.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from stack.bench.http_load import LoadResult, exchange

__all__ = ["RequestsExhausted", "run_stream"]


class RequestsExhausted(RuntimeError):
    """The requests prepared for a run ran out before its time did: prepare more (the rate was underestimated)."""


async def _connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    requests: Iterator[bytes],
    deadline: float,
    result: LoadResult,
) -> bool:
    """Send requests until ``deadline``; whether the iterator ran dry first."""
    try:
        while time.perf_counter() < deadline:
            request = next(requests, None)
            if request is None:
                return True
            await exchange(reader, writer, request, result)
        return False
    finally:
        writer.close()
        await writer.wait_closed()


async def run_stream(
    host: str, port: int, requests: Iterator[bytes], *, seconds: float, connections: int
) -> LoadResult:
    """Send each of ``requests`` once, over ``connections`` keep-alive connections, for ``seconds``.

    Raises :class:`RequestsExhausted` when the iterator ends before ``seconds`` are over.
    """
    opened = [await asyncio.open_connection(host, port) for _ in range(connections)]
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    dry = await asyncio.gather(*(_connection(reader, writer, requests, deadline, result) for reader, writer in opened))
    result.seconds = time.perf_counter() - started
    if any(dry):
        raise RequestsExhausted(
            f"the {result.requests:,} requests prepared ran out after {result.seconds:.1f} of {seconds:g} s"
        )
    return result
