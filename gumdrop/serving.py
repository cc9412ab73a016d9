"""Serving several ASGI apps from one process, stopped together on Ctrl-C or SIGTERM.

``33god up`` runs every component's API on its own port in one event loop, and each
``serve`` command runs one. uvicorn's own signal capture is per server (the last one
installed wins, and it re-raises the signal afterwards), so the servers here leave
signals to :func:`serve_apps`, which stops them all and then returns normally, letting
the caller drain consumers and close the bus in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from gumdrop.access_control import Access
from gumdrop.http_deadlines import Deadlines, deadline_protocol
from gumdrop.unavailable import ServiceUnavailable

__all__ = [
    "YOUNG_COLLECTION_THRESHOLD",
    "Deadlines",
    "Listener",
    "PortUnavailable",
    "Service",
    "serve_apps",
    "serve_service",
    "tune_collector",
]


@dataclass(frozen=True, slots=True)
class Listener:
    """One app and where it listens."""

    app: ASGIApp
    host: str
    port: int
    name: str = "api"


class PortUnavailable(ServiceUnavailable):
    """A server could not listen on its address (in use, or not allowed)."""


YOUNG_COLLECTION_THRESHOLD = 50_000
"""Allocations between two collections of young objects (CPython's default is 700)."""


def tune_collector() -> None:
    """Call once start-up is done: the garbage collector stays out of the way of serving.

    Everything start-up allocated (schemas, compiled validators, routes, pools) lives as long
    as the process: frozen, full collections no longer walk it. A server allocates a few
    containers per event (dicts, futures, callbacks), so with the default threshold the
    collector runs every few events and, with thousands of messages in flight, walks them
    each time: measured on the gateway, a fifth to a third of its CPU per event. Raised,
    cycles are still collected, only in larger and far fewer passes.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


class Service(Protocol):
    """A service with consumers and an API: started (migrating first), served, then stopped in order."""

    @property
    def api(self) -> ASGIApp: ...

    async def start(self, *, migrate: bool = True) -> None: ...

    async def stop(self, *, timeout: float = 30.0) -> None: ...


async def serve_service(
    service: Service,
    *,
    host: str,
    port: int,
    name: str,
    migrate: bool,
    stop_timeout: float,
    started: Callable[[], None] = lambda: None,
) -> None:
    """Start ``service``, call ``started`` (the banner), serve its API until a signal, then stop it.

    What start-up allocated is frozen before serving (:func:`tune_collector`); stopping gets
    ``stop_timeout`` to finish the work in hand, whatever ended the serving.
    """
    await service.start(migrate=migrate)
    started()
    tune_collector()
    try:
        await serve_apps([Listener(service.api, host, port, name)])
    finally:
        await service.stop(timeout=stop_timeout)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # serve_apps owns the signals of the whole process


async def serve_apps(
    listeners: Sequence[Listener], *, stop: asyncio.Event | None = None, deadlines: Deadlines = Deadlines()
) -> None:
    """Serve every listener until SIGINT/SIGTERM (or ``stop`` is set); a second signal forces the exit.

    A client slower than ``deadlines`` is disconnected (:mod:`gumdrop.http_deadlines`).
    Returns once every server has stopped. Raises :class:`PortUnavailable` when a listener
    cannot bind; the others are stopped first.
    """
    stop = stop or asyncio.Event()
    for item in listeners:
        access = getattr(getattr(item.app, "state", None), "access", None)
        if isinstance(access, Access):
            access.announce(item.name, item.host)
    protocol = deadline_protocol(deadlines)
    servers = [
        _Server(
            uvicorn.Config(
                item.app,
                host=item.host,
                port=item.port,
                log_level="warning",
                lifespan="on",
                http=protocol,
                timeout_keep_alive=deadlines.keep_alive,
            )
        )
        for item in listeners
    ]

    def _on_signal() -> None:
        if stop.is_set():
            for server in servers:
                server.force_exit = True
        stop.set()

    async def _stop_all() -> None:
        await stop.wait()
        for server in servers:
            server.should_exit = True

    with _signals(_on_signal):
        watcher = asyncio.create_task(_stop_all())
        tasks = [asyncio.create_task(_serve(server, item)) for server, item in zip(servers, listeners, strict=True)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            stop.set()  # one server down (failed, or stopping): stop them all
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            watcher.cancel()
    for task in tasks:
        if (exc := task.exception()) is not None:
            raise exc


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` while inside; afterwards the defaults are back."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on the main thread
            loop.add_signal_handler(signum, handler)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _serve(server: uvicorn.Server, listener: Listener) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise PortUnavailable(
            f"the {listener.name} cannot listen on {listener.host}:{listener.port} (is another process using it?)"
        ) from exc
    if not server.started and not server.should_exit:
        raise PortUnavailable(f"the {listener.name} did not start on {listener.host}:{listener.port}")
