"""The gateway's one error shape, and the handlers that give every error answer that shape.

Every answer with a 4xx or 5xx status has the body ``{"errors": [{"path": ..., "message": ...}]}``:
``path`` says where in the request the problem is (a JSON path ``$…`` into the body, or
``query.NAME``, ``header.NAME``, ``path.NAME``) and is ``null`` when the problem concerns the
request as a whole (an unknown route, the broker being unreachable). FastAPI's own validation
errors, 404s and 405s are rewritten into the same shape.

::

    GatewayError                 an error answer: status, the errors, extra headers
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from holyfields import ValidationIssue
from holyfields.validation import json_path

__all__ = [
    "ERROR_RESPONSES",
    "RETRY_AFTER_SECONDS",
    "WHOLE_REQUEST",
    "ErrorBody",
    "ErrorItem",
    "GatewayError",
    "install_error_handlers",
    "issues_as_json",
    "json_response",
]

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5
"""What a 503 tells clients to wait before they try again."""

WHOLE_REQUEST = ""
"""The path of an issue that concerns the request as a whole; answered as ``null``."""


class ErrorItem(BaseModel):
    """One problem: where it is and what is wrong."""

    path: str | None = Field(
        description="`$…` inside the JSON body, `query.NAME`, `header.NAME` or `path.NAME`; null for the whole request",
        examples=["$.payload.price"],
    )
    message: str = Field(examples=["expected number, got string '39.98'"])


class ErrorBody(BaseModel):
    """The body of every error answer."""

    errors: list[ErrorItem]


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("API keys are configured and the request has none of them (`X-API-Key` or `Bearer`)"),
    413: _documented("The body is larger than `BLOODBANK_MAX_BODY_BYTES`, or the batch has too many events"),
    422: _documented("Invalid input: every problem, each with the JSON path of the offending value"),
    503: _documented("The broker did not confirm in time: nothing was accepted; retry after `Retry-After` seconds"),
}
"""The error answers of the publishing routes, for the OpenAPI document."""


class GatewayError(Exception):
    """An error answer: ``status`` with ``errors`` in the gateway's shape, and extra ``headers``."""

    def __init__(
        self, status: int, errors: Iterable[ValidationIssue], *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        super().__init__(f"{status}: " + "; ".join(map(str, self.errors)))

    @classmethod
    def about_request(cls, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> GatewayError:
        """An error that concerns the request as a whole (no path)."""
        return cls(status, [ValidationIssue(WHOLE_REQUEST, message)], headers=headers)

    @classmethod
    def broker_unavailable(cls, detail: str) -> GatewayError:
        return cls.about_request(
            503,
            f"{detail}: the event was not accepted; retry after {RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    def response(self) -> Response:
        return json_response(self.status, {"errors": issues_as_json(self.errors)}, headers=self.headers)


def issues_as_json(issues: Sequence[ValidationIssue]) -> list[dict[str, str | None]]:
    """The ``errors`` list of the error shape (and of a rejected batch item)."""
    return [{"path": issue.path or None, "message": issue.message} for issue in issues]


def json_response(status: int, content: object, *, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer encoded by msgspec (exact integers, no pydantic pass)."""
    return Response(msgspec.json.encode(content), status_code=status, headers=headers, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the gateway's shape, and say so in its OpenAPI document."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_error_shape(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _document_error_shape(document: dict[str, Any]) -> None:
    """Every 4xx/5xx answer in ``document`` has the ErrorBody schema (FastAPI documents its own for 422)."""
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


async def _gateway_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)  # noqa: S101 - registered for this type only
    return exc.response()


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":  # noqa: PLR2004 - Starlette's answer for an unknown route
        message = f"no route {request.url.path}: see /docs for the routes of this gateway"
    elif exc.status_code == 405 and message == "Method Not Allowed":  # noqa: PLR2004
        message = f"{request.method} is not allowed on {request.url.path}: see /docs"
    return GatewayError.about_request(exc.status_code, message, headers=exc.headers).response()


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    issues = [ValidationIssue(_location(error.get("loc", ())), str(error.get("msg", ""))) for error in exc.errors()]
    return GatewayError(422, issues).response()


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error in the gateway", path=request.url.path, exc_info=exc)
    return GatewayError.about_request(500, "internal error: see the gateway's log").response()


def _location(loc: Sequence[str | int]) -> str:
    """FastAPI's ``("body", "payload", 0)`` → ``$.payload[0]``; ``("query", "legacy")`` → ``query.legacy``."""
    if not loc:
        return WHOLE_REQUEST
    where, *rest = loc
    if where == "body":
        return json_path(rest)
    return ".".join(str(part) for part in loc)
