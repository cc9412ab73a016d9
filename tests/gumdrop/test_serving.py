"""serve_apps: several apps in one process, stopped together, a taken port answered clearly; the collector tuned."""

from __future__ import annotations

import asyncio
import gc
import socket

import httpx2 as httpx
import pytest
from fastapi import FastAPI

from gumdrop.serving import YOUNG_COLLECTION_THRESHOLD, Listener, PortUnavailable, serve_apps, tune_collector


def _app(name: str) -> FastAPI:
    app = FastAPI()

    @app.get("/name")
    def _name() -> dict[str, str]:
        return {"name": name}

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                return await client.get(url, timeout=1)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    pytest.fail(f"{url} never answered")


async def test_every_app_is_served_until_stop_is_set() -> None:
    """Two apps answer on their own ports; setting stop ends serve_apps normally."""
    ports = [_free_port(), _free_port()]
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_apps([Listener(_app("a"), "127.0.0.1", ports[0]), Listener(_app("b"), "127.0.0.1", ports[1])], stop=stop)
    )
    assert (await _get(f"http://127.0.0.1:{ports[0]}/name")).json() == {"name": "a"}
    assert (await _get(f"http://127.0.0.1:{ports[1]}/name")).json() == {"name": "b"}
    stop.set()
    await asyncio.wait_for(serving, timeout=10)
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{ports[0]}/name", timeout=1)


async def test_a_taken_port_is_named_and_the_other_servers_stop() -> None:
    """A port in use raises PortUnavailable naming the listener and address; the other server is stopped."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = _free_port()
        with pytest.raises(PortUnavailable, match=rf"the Candystore API cannot listen on 127.0.0.1:{busy}"):
            await asyncio.wait_for(
                serve_apps(
                    [
                        Listener(_app("a"), "127.0.0.1", other, "gateway"),
                        Listener(_app("b"), "127.0.0.1", busy, "Candystore API"),
                    ]
                ),
                timeout=15,
            )


def test_tune_collector_freezes_start_up_and_collects_young_objects_less_often() -> None:
    """After start-up, what exists is frozen out of full collections and the young threshold is raised."""
    threshold = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
