"""The one error shape's handlers: wrong paths and methods answered in it, a 405 listing every allowed method."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from gumdrop.http_errors import install_error_handlers


def _app() -> FastAPI:
    things = APIRouter()

    @things.get("/things/{thing_id}")
    async def read(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @things.delete("/things/{thing_id}")
    async def discard(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(things)

    @app.post("/things/{thing_id}")
    async def replace(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    install_error_handlers(app, service="the things API")
    return app


def test_a_wrong_method_lists_every_method_of_the_path_across_included_routers() -> None:
    """Starlette names the first matching route's methods only; the answer names those of every route."""
    client = TestClient(_app(), base_url="http://localhost")
    for method in ("PUT", "PATCH", "OPTIONS"):
        answer = client.request(method, "/things/7")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "DELETE, GET, POST"
        assert answer.json() == {
            "errors": [
                {
                    "path": None,
                    "message": f"{method} is not allowed on /things/7: see /docs for the routes of the things API",
                }
            ]
        }


def test_an_unknown_path_says_where_to_look() -> None:
    answer = TestClient(_app(), base_url="http://localhost").get("/nothing")
    assert answer.status_code == 404
    assert answer.json() == {
        "errors": [{"path": None, "message": "no route /nothing: see /docs for the routes of the things API"}]
    }
