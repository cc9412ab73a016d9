"""Every request gets an id: echoed in X-Request-Id, on the lines logged while it is handled, on its access line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gumdrop.logs import LogConfig, configure_logs
from gumdrop.request_ids import RequestIds

log = structlog.get_logger("tests.handler")


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things")
    async def things() -> dict[str, str]:
        log.info("listing things")
        return {"ok": "yes"}

    app.add_middleware(RequestIds, service="the things API")
    return app


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    previous = structlog.get_config()
    configure_logs(LogConfig(json=True, level=logging.INFO), stream)
    yield stream
    structlog.configure(**previous)


def test_a_new_id_is_echoed_and_on_every_line_of_the_request(logged: io.StringIO) -> None:
    answer = TestClient(_app(), base_url="http://localhost").get("/things?secret=1")
    request_id = answer.headers["x-request-id"]
    assert len(request_id) == 32
    handler, access = (json.loads(line) for line in logged.getvalue().splitlines())
    assert handler["event"] == "listing things"
    assert handler["request_id"] == request_id
    assert access == {
        **access,
        "event": "request",
        "logger": "gumdrop.access",
        "request_id": request_id,
        "service": "the things API",
        "method": "GET",
        "path": "/things",
        "status": 200,
    }
    assert "secret" not in logged.getvalue()  # the query string is not logged


def test_the_callers_plain_id_is_kept(logged: io.StringIO) -> None:
    answer = TestClient(_app(), base_url="http://localhost").get("/nowhere", headers={"X-Request-Id": "proxy-7f3a:1.2"})
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "proxy-7f3a:1.2"
    (access,) = (json.loads(line) for line in logged.getvalue().splitlines())
    assert (access["request_id"], access["status"]) == ("proxy-7f3a:1.2", 404)


_PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


@given(st.text(_PRINTABLE_ASCII, min_size=1, max_size=300).filter(lambda text: text == text.strip()))
def test_an_id_that_is_not_a_plain_token_is_replaced(incoming: str) -> None:
    """Whatever the caller sends, the id answered is a plain token: never echoed into a header or a log as it came."""
    answer = TestClient(_app(), base_url="http://localhost").get("/things", headers={"X-Request-Id": incoming})
    request_id = answer.headers["x-request-id"]
    if re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", incoming):
        assert request_id == incoming
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
