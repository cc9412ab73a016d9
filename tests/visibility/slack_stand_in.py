"""A local HTTP server standing in for Slack's incoming webhook, in the test's event loop.

It answers like Slack (200 ``ok``) and keeps each JSON body it received; ``status``
makes it answer otherwise (an outage). Before :meth:`start` and after :meth:`stop`
nothing listens on its port, which is the other kind of outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its signals


class SlackStandIn:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.retry_after: str | None = None
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}/services/T000/B000/XXXX"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def _hook(self, request: Request) -> PlainTextResponse:
        if self.status != 200:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            return PlainTextResponse("service_unavailable", status_code=self.status, headers=headers)
        self.received.append(await request.json())
        return PlainTextResponse("ok")

    async def start(self) -> None:
        app = Starlette(routes=[Route("/services/T000/B000/XXXX", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._server = None
            self._task = None
