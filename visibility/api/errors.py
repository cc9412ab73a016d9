"""The API's one error shape, and the handlers that give every error answer that shape.

Every 4xx and 5xx answer has the body of the Bloodbank gateway and Candystore,
``{"errors": [{"path": ..., "message": ...}]}``: ``path`` is ``query.NAME``, ``path.NAME``
or a JSON path ``$…`` into the body, and ``null`` when the problem concerns the request
as a whole. Store and lifecycle exceptions are translated here::

    InvalidCursor          422  query.cursor
    ReasonRequired         422  $.note
    TransitionRefused      409  saying why (the conflict's status)
    DatabaseUnavailable    503  Retry-After: 5
    StoreError (others)    500  what the store said
    ApiError               its own status (raised by the routes)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from bloodbank.gateway.errors import ErrorBody, issues_as_json, json_response
from holyfields import ValidationIssue
from holyfields.validation import json_path
from visibility.lifecycle import ReasonRequired, TransitionRefused
from visibility.store import DatabaseUnavailable, InvalidCursor, StoreError

__all__ = ["RETRY_AFTER_SECONDS", "ApiError", "error_responses", "install_error_handlers"]

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5
"""What a 503 tells clients to wait before they try again."""

_DESCRIPTIONS = {
    404: "No such conflict (the message names the id)",
    409: "The action does not apply to the conflict's status (the message says why)",
    422: "Invalid input: every problem, each with the query parameter, path parameter or JSON path at fault",
    503: "The database is unavailable: retry after `Retry-After` seconds",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can answer ``statuses``, all in the error shape."""
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses}


class ApiError(Exception):
    """An error answer: ``status`` with ``errors`` in the one shape, and extra ``headers``."""

    def __init__(
        self, status: int, errors: Iterable[ValidationIssue], *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        super().__init__(f"{status}: " + "; ".join(map(str, self.errors)))

    @classmethod
    def at(cls, status: int, path: str | None, message: str, **options: Any) -> ApiError:
        """One problem at ``path`` (None: the request as a whole)."""
        return cls(status, [ValidationIssue(path or "", message)], **options)

    def response(self) -> Response:
        return json_response(self.status, {"errors": issues_as_json(self.errors)}, headers=self.headers)


def _location(loc: Sequence[str | int]) -> str:
    """Pydantic's ``("body", "note")`` → ``$.note``; ``("query", "limit")`` → ``query.limit``."""
    if not loc:
        return ""
    where, *rest = loc
    if where == "body":
        return json_path(rest)
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the one shape, and say so in its OpenAPI document."""
    handlers = {
        ApiError: _api_error,
        HTTPException: _http_exception,
        RequestValidationError: _request_validation_error,
        InvalidCursor: _invalid_cursor,
        ReasonRequired: _reason_required,
        TransitionRefused: _transition_refused,
        DatabaseUnavailable: _database_unavailable,
        StoreError: _store_error,
        Exception: _unexpected_error,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_error_shape(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _document_error_shape(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    reference = {"$ref": "#/components/schemas/ErrorBody"}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for status, answer in operation.get("responses", {}).items():
                if str(status)[:1] in {"4", "5"}:
                    answer["content"] = {"application/json": {"schema": reference}}


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # noqa: S101 - registered for this type only
    return exc.response()


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":  # noqa: PLR2004 - Starlette's answer for an unknown route
        message = f"no route {request.url.path}: see /docs for the routes of the visibility API"
    elif exc.status_code == 405 and message == "Method Not Allowed":  # noqa: PLR2004
        message = f"{request.method} is not allowed on {request.url.path}: see /docs"
    return ApiError.at(exc.status_code, None, message, headers=exc.headers).response()


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    issues = [ValidationIssue(_location(error.get("loc", ())), str(error.get("msg", ""))) for error in exc.errors()]
    return ApiError(422, issues).response()


async def _invalid_cursor(_request: Request, exc: Exception) -> Response:
    return ApiError.at(422, "query.cursor", str(exc)).response()


async def _reason_required(_request: Request, exc: Exception) -> Response:
    return ApiError.at(422, "$.note", str(exc)).response()


async def _transition_refused(_request: Request, exc: Exception) -> Response:
    return ApiError.at(409, None, str(exc)).response()


async def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", error=str(exc))
    return ApiError.at(
        503,
        None,
        f"{exc}; retry after {RETRY_AFTER_SECONDS} s",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    ).response()


async def _store_error(request: Request, exc: Exception) -> Response:
    log.error("store error", path=request.url.path, error=str(exc))
    return ApiError.at(500, None, str(exc)).response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error in the API", path=request.url.path, exc_info=exc)
    return ApiError.at(500, None, "internal error: see the visibility layer's log").response()
