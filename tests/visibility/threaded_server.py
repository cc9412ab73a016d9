"""A real HTTP server on a free local port, in a thread of its own, for commands that make blocking requests.

``visibility evaluate`` and ``visibility patterns`` read their APIs with blocking calls,
so the server they talk to in a test cannot share the test's event loop: it runs its
own loop on a thread, where ``prepare`` (filling a store, say) runs before serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 30.0


@contextlib.contextmanager
def serving(
    build: Callable[[], Awaitable[ASGIApp]], *, cleanup: Callable[[], Awaitable[None]] | None = None
) -> Iterator[str]:
    """Serve the app ``build()`` returns (built on the server's loop); yields its base URL.

    ``cleanup`` runs on the server's loop once it stopped (closing a store, say).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    holder: dict[str, uvicorn.Server] = {}
    failure: list[BaseException] = []

    async def main() -> None:
        app = await build()
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        holder["server"] = server
        try:
            await server.serve(sockets=[sock])
        finally:
            if cleanup is not None:
                await cleanup()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="test-http-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not (holder.get("server") and holder["server"].started):
        if failure:
            raise RuntimeError("the test server failed to start") from failure[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test server did not start within {START_TIMEOUT:g} s")
        time.sleep(0.01)
    try:
        yield url
    finally:
        holder["server"].should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
        if failure:
            raise RuntimeError("the test server failed") from failure[0]
