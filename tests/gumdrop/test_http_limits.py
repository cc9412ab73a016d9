"""The HTTP boundary every service shares: body rules (413, 415, strict JSON), client deadlines, quiet error logs."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
import structlog
from fastapi import FastAPI, Request, WebSocket
from structlog.testing import capture_logs
from websockets.asyncio.client import connect

from gumdrop.console import logs_on_stderr
from gumdrop.http_errors import install_error_handlers
from gumdrop.http_limits import BodyRules, RequestLimits, is_json_media_type
from gumdrop.serving import Deadlines, Listener, serve_apps
from tests.slow_clients import closed_within, trickle

CAP = 1000
SHORT = Deadlines(headers=0.3, body=0.3, keep_alive=5)
"""Deadlines short enough for a test; the keep-alive is kept long to tell it apart from the header deadline."""
MARGIN = 2.0
"""Seconds past a deadline within which the server must have acted."""


def _echo_app(max_bytes: int = CAP, **rules: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestLimits, rules=BodyRules(max_bytes=max_bytes, setting="TEST_MAX_BODY_BYTES", **rules))
    install_error_handlers(app, service="the test app")

    @app.api_route("/echo", methods=["GET", "POST", "DELETE"])
    async def echo(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    return app


async def _chunked(*chunks: bytes) -> AsyncIterator[bytes]:
    """A body sent in ``chunks`` without Content-Length (Transfer-Encoding: chunked)."""
    for chunk in chunks:
        yield chunk


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


def _errors(response: httpx.Response) -> list[tuple[str | None, str]]:
    return [(item["path"], item["message"]) for item in response.json()["errors"]]


# --- media types, size, strict JSON -------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "structured", "accepted"),
    [
        ("application/json", False, True),
        ("Application/JSON; charset=UTF-8", False, True),
        ('application/json; charset="utf-8"', False, True),
        ("application/json; charset=latin-1", False, False),
        ("text/plain", False, False),
        ("application/x-www-form-urlencoded", False, False),
        ("application/cloudevents+json", False, False),
        ("application/cloudevents+json", True, True),
        ("text/plain+json", True, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_json_media_types(content_type: str | None, structured: bool, accepted: bool) -> None:
    """JSON is application/json in UTF-8, and application/*+json where structured suffixes are allowed."""
    assert is_json_media_type(content_type, structured=structured) is accepted


async def test_a_json_body_reaches_the_app_as_sent() -> None:
    """A JSON body within the cap reaches the route unchanged, streamed or not; a bodiless request too."""
    async with _client(_echo_app()) as client:
        sent = json.dumps({"a": [1, 2.5, "ü"]})
        assert (await client.post("/echo", content=sent, headers={"content-type": "application/json"})).json() == {
            "body": sent
        }
        chunks = _chunked(sent[:5].encode(), sent[5:].encode())
        streamed = await client.post("/echo", content=chunks, headers={"content-type": "application/json"})
        assert streamed.json() == {"body": sent}
        assert (await client.get("/echo")).json() == {"body": ""}
        assert (await client.delete("/echo")).json() == {"body": ""}


async def test_a_body_that_is_not_json_is_a_415() -> None:
    """A cross-site form post (text/plain), a form, or a body without Content-Type is 415, naming the header."""
    async with _client(_echo_app()) as client:
        plain = await client.post("/echo", content='{"a": 1}', headers={"content-type": "text/plain"})
        assert plain.status_code == 415
        assert _errors(plain) == [
            (
                "header.Content-Type",
                "the body is 'text/plain', which is not JSON in UTF-8: send it as application/json",
            )
        ]
        form = await client.post("/echo", data={"a": "1"})
        assert form.status_code == 415
        missing = await client.post("/echo", content=b'{"a": 1}')
        assert missing.status_code == 415
        assert _errors(missing) == [
            ("header.Content-Type", "the body has no Content-Type: send JSON as application/json")
        ]
        deleted = await client.request("DELETE", "/echo", content=b"x", headers={"content-type": "text/plain"})
        assert deleted.status_code == 415


async def test_structured_json_suffixes_are_accepted_where_allowed() -> None:
    """application/cloudevents+json passes a service that allows structured suffixes, and only there."""
    headers = {"content-type": "application/cloudevents+json"}
    async with _client(_echo_app(structured_json=True)) as client:
        assert (await client.post("/echo", content=b"{}", headers=headers)).status_code == 200
    async with _client(_echo_app()) as client:
        assert (await client.post("/echo", content=b"{}", headers=headers)).status_code == 415


async def test_a_body_over_the_cap_is_a_413_whether_announced_or_streamed() -> None:
    """Past the cap, by Content-Length or in chunks, the answer is 413 naming the setting, whatever the media type."""
    message = f"the body is larger than {CAP} bytes (TEST_MAX_BODY_BYTES): send a smaller body"
    async with _client(_echo_app()) as client:
        announced = await client.post("/echo", content=b"[" + b" " * CAP + b"]", headers={"content-type": "text/plain"})
        assert announced.status_code == 413
        assert _errors(announced) == [(None, message)]
        chunks = _chunked(b"[" + b" " * 600, b" " * 600 + b"]")
        streamed = await client.post("/echo", content=chunks, headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert _errors(streamed) == [(None, message)]
        exactly = await client.post(
            "/echo", content=b" " * (CAP - 2) + b"{}", headers={"content-type": "application/json"}
        )
        assert exactly.status_code == 200


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"payload": {"price": 1, "price": 2}}', "$.payload.price", "duplicate key 'price'"),
        (b"[" * 10_000 + b"]" * 10_000, "$", "nested deeper than 64"),
        (b'{"a": ["x\\u0000y"]}', "$.a[0]", "U+0000"),
        (b'{"n": 1' + b"0" * 400 + b"}", "$.n", "beyond the range of a double"),
        (b'{"a": ', "$", "not valid JSON"),
    ],
)
async def test_json_the_platform_refuses_is_a_422_at_its_path(body: bytes, path: str, message: str) -> None:
    """Duplicate keys, deep nesting, U+0000, huge numbers and broken JSON are 422 with the path, before the route."""
    async with _client(_echo_app(max_bytes=len(body))) as client:
        response = await client.post("/echo", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422
        ((where, what),) = _errors(response)
        assert where == path
        assert message in what


async def test_an_app_that_decodes_its_body_itself_gets_it_unchecked() -> None:
    """With strict_json off, the route receives the JSON as sent (the gateway decodes strictly on its own)."""
    async with _client(_echo_app(strict_json=False)) as client:
        body = '{"a": 1, "a": 2}'
        response = await client.post("/echo", content=body, headers={"content-type": "application/json"})
        assert response.json() == {"body": body}


# --- unexpected errors and logs -----------------------------------------------------------


def _recursing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, service="the test app")

    def deeper(depth: int) -> int:
        return deeper(depth + 1) + 1

    @app.post("/boom")
    async def boom(request: Request) -> int:
        await request.body()
        return deeper(0)

    return app


async def test_a_recursion_error_is_a_500_in_the_error_shape_and_the_log_has_no_body() -> None:
    """A RecursionError in a route answers 500 in the one shape; the error log names the route, never the body."""
    transport = httpx.ASGITransport(app=_recursing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        with capture_logs() as logs:
            response = await client.post("/boom", json={"card": "4111-secret"})
    assert response.status_code == 500
    assert _errors(response) == [(None, "internal error: see the log of the test app")]
    (entry,) = [entry for entry in logs if entry["event"] == "unexpected error"]
    assert entry["path"] == "/boom"
    assert isinstance(entry["exc_info"], RecursionError)
    assert "4111-secret" not in repr({key: value for key, value in entry.items() if key != "exc_info"})


def _fails_with_a_secret_local() -> None:
    card = "4111-secret-local"
    raise ValueError("declined " + card[:4])


def test_logged_exceptions_show_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """The platform's logs render a plain traceback: the frames, never the values of their local variables."""
    with logs_on_stderr(logging.ERROR):
        try:
            _fails_with_a_secret_local()
        except ValueError:
            structlog.get_logger("test").exception("payment failed")
    err = capsys.readouterr().err
    assert "payment failed" in err
    assert "_fails_with_a_secret_local" in err
    assert "ValueError: declined 4111" in err
    assert "4111-secret-local" not in err


# --- client deadlines on real sockets -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def servers() -> AsyncIterator[tuple[int, int]]:
    """Two apps in one event loop, as `33god up` serves them, with short deadlines."""
    ports = (_free_port(), _free_port())
    stop = asyncio.Event()
    listeners = [Listener(_echo_app(), "127.0.0.1", port) for port in ports]
    serving = asyncio.create_task(serve_apps(listeners, stop=stop, deadlines=SHORT))
    async with httpx.AsyncClient() as client:
        for port in ports:
            for _ in range(200):
                try:
                    await client.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
    yield ports
    stop.set()
    await asyncio.wait_for(serving, timeout=10)


def _request_head(port: int, extra: str = "") -> bytes:
    return f"POST /echo HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n{extra}".encode()


async def test_trickling_headers_and_idle_connections_are_closed(servers: tuple[int, int]) -> None:
    """A client sending its headers a byte at a time, or nothing at all, is disconnected past the header deadline."""
    port, other = servers
    started = time.monotonic()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    trickling = asyncio.create_task(trickle(writer, _request_head(port, "x-slow: " + "a" * 200)))
    async with httpx.AsyncClient() as client:
        probe = await client.get(f"http://127.0.0.1:{other}/health/live", timeout=SHORT.headers)
        assert probe.status_code == 200
    assert await closed_within(reader, SHORT.headers + MARGIN) == b""
    assert await closed_within(idle_reader, SHORT.headers + MARGIN) == b""
    assert time.monotonic() - started < SHORT.headers + MARGIN
    await trickling
    writer.close()
    idle_writer.close()


async def test_a_trickling_body_is_answered_408_and_closed(servers: tuple[int, int]) -> None:
    """A body that does not arrive within the body deadline is answered 408 in the error shape, then closed."""
    port, _ = servers
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request_head(port, "content-length: 100\r\n\r\n"))
    trickling = asyncio.create_task(trickle(writer, b"[" + b" " * 98 + b"]"))
    answer = await closed_within(reader, SHORT.body + MARGIN)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body) == {
        "errors": [
            {"path": None, "message": "the request body did not arrive within 0.3 s: send it at once, or send less"}
        ]
    }
    await trickling
    writer.close()


async def test_a_kept_alive_connection_waits_for_its_next_request_until_the_keep_alive_ends(
    servers: tuple[int, int],
) -> None:
    """Between requests a connection is idle, not slow: a pause longer than the header deadline is fine."""
    port, _ = servers
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.post("/echo", json={"n": 1})).status_code == 200
        await asyncio.sleep(SHORT.headers * 3)
        assert (await client.post("/echo", json={"n": 2})).json() == {"body": '{"n":2}'}


async def test_a_websocket_outlives_the_request_deadlines(servers: tuple[int, int]) -> None:
    """Once upgraded, a WebSocket is not held to the header or body deadline of the request that opened it."""
    port, _ = servers
    async with connect(f"ws://127.0.0.1:{port}/ws") as websocket:
        await asyncio.sleep(max(SHORT.headers, SHORT.body) * 3)
        await websocket.send("still here")
        assert await websocket.recv() == "still here"
