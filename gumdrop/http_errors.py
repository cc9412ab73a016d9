"""The platform's one HTTP error shape, and the handlers that give every error answer of an app that shape.

Every 4xx and 5xx answer of the gateway, Candystore and the visibility API has the body
``{"errors": [{"path": ..., "message": ...}]}``: ``path`` says where in the request the
problem is (a JSON path ``$…`` into the body, or ``query.NAME``, ``header.NAME``,
``path.NAME``) and is ``null`` when the problem concerns the request as a whole.
FastAPI's own validation errors, 404s and 405s are rewritten into the same shape, and an
app adds translations of its own exceptions (a store's "database unavailable" → 503)::

    ApiError                     an error answer: status, the errors, extra headers
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

import msgspec
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

from gumdrop.issues import ValidationIssue
from gumdrop.strict_json import json_path

__all__ = [
    "RETRY_AFTER_SECONDS",
    "WHOLE_REQUEST",
    "ApiError",
    "ErrorBody",
    "ErrorItem",
    "Translation",
    "body_answers",
    "documented",
    "error_answers",
    "install_error_handlers",
    "issues_as_json",
    "issues_from_pydantic",
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


def documented(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry in the error shape."""
    return {"model": ErrorBody, "description": description}


def error_answers(descriptions: Mapping[int, str], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can answer ``statuses``, described by ``descriptions``."""
    return {status: documented(descriptions[status]) for status in statuses}


def body_answers(setting: str, *, media_types: str = "`application/json`") -> dict[int | str, dict[str, Any]]:
    """The answers of every route that takes a body (:mod:`gumdrop.http_limits`, :mod:`gumdrop.http_deadlines`).

    ``setting`` names the body cap (``CANDYSTORE_MAX_BODY_BYTES``), ``media_types`` what the body may be sent as.
    """
    return {
        408: documented("The body did not arrive in time after the headers: the connection is closed"),
        413: documented(f"The body is larger than `{setting}`"),
        415: documented(f"The body is not {media_types} in UTF-8, or has no Content-Type"),
    }


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
    def at(cls, status: int, path: str | None, message: str, *, headers: Mapping[str, str] | None = None) -> Self:
        """One problem at ``path`` (None: the request as a whole)."""
        return cls(status, [ValidationIssue(path or WHOLE_REQUEST, message)], headers=headers)

    @classmethod
    def about_request(cls, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Self:
        """An error that concerns the request as a whole (no path)."""
        return cls.at(status, None, message, headers=headers)

    @classmethod
    def unavailable(cls, message: str) -> Self:
        """A 503 telling the client when to try again."""
        return cls.about_request(
            503, f"{message}; retry after {RETRY_AFTER_SECONDS} s", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    def response(self) -> Response:
        return json_response(self.status, {"errors": issues_as_json(self.errors)}, headers=self.headers)


def issues_as_json(issues: Sequence[ValidationIssue]) -> list[dict[str, str | None]]:
    """The ``errors`` list of the error shape (and of a rejected batch item)."""
    return [{"path": issue.path or None, "message": issue.message} for issue in issues]


def json_response(status: int, content: object, *, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer encoded by msgspec (exact integers, no pydantic pass)."""
    return Response(msgspec.json.encode(content), status_code=status, headers=headers, media_type="application/json")


def _location(loc: Sequence[str | int]) -> str:
    """Pydantic's ``("body", "payload", 0)`` → ``$.payload[0]``; ``("query", "limit")`` → ``query.limit``."""
    if not loc:
        return WHOLE_REQUEST
    where, *rest = loc
    if where == "body":
        return json_path(rest)
    return ".".join(str(part) for part in loc)


def issues_from_pydantic(
    errors: Iterable[Mapping[str, Any]], *, prefix: Sequence[str | int] = ()
) -> list[ValidationIssue]:
    """Pydantic's error list as issues, each at its location under ``prefix``."""
    return [ValidationIssue(_location([*prefix, *error.get("loc", ())]), str(error.get("msg", ""))) for error in errors]


Translation = Callable[[Exception], ApiError]
"""Turns an app's own exception into its error answer (and logs it if it should be)."""


def install_error_handlers(
    app: FastAPI,
    *,
    service: str,
    translations: Mapping[type[Exception], Translation] | None = None,
    body_errors: Mapping[int | str, dict[str, Any]] | None = None,
    guide: str | None = None,
) -> None:
    """Give every error answer of ``app`` the one shape, and say so in its OpenAPI document.

    ``service`` names the app in messages ("internal error: see the log of ``service``");
    ``guide`` tells a client on a wrong path or method where to look (by default "see /docs
    for the routes of ``service``"); ``translations`` answer the app's own exceptions;
    ``body_errors`` (:func:`body_answers`) are documented on every route that takes a body.
    """
    guide = guide or f"see /docs for the routes of {service}"

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101 - registered for this type only
        return exc.response()

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
        return _http_error(request, exc, guide=guide).response()

    async def request_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
        return ApiError(422, issues_from_pydantic(exc.errors())).response()

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        # Where and what only: the body and the query may hold anyone's data (a RecursionError's too).
        log.error("unexpected error", service=service, method=request.method, path=request.url.path, exc_info=exc)
        return ApiError.about_request(500, f"internal error: see the log of {service}").response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_exception)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    for kind, translate in (translations or {}).items():
        app.add_exception_handler(kind, _translated(translate))
    app.add_exception_handler(Exception, unexpected_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _document_body_errors(document, body_errors or {})
            _document_error_shape(document)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _http_error(request: Request, exc: HTTPException, *, guide: str) -> ApiError:
    """Starlette's and FastAPI's HTTP errors in the one shape, saying what to do; a 405 lists every allowed method."""
    message = str(exc.detail)
    headers = exc.headers
    if exc.status_code == 404 and message == "Not Found":  # noqa: PLR2004 - Starlette's answer for an unknown route
        message = f"no route {request.url.path}: {guide}"
    elif exc.status_code == 405:  # noqa: PLR2004 - Starlette's Allow names the methods of the first matching route only
        if message == "Method Not Allowed":
            message = f"{request.method} is not allowed on {request.url.path}: {guide}"
        if allowed := _allowed_methods(request):
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return ApiError.about_request(exc.status_code, message, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path (several routes may share a path).

    Each method is asked of the router as a request would be, so routes inside included
    routers count too; a mounted app (Candybar's bundle) answers its 405s with its own Allow.
    """
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _translated(translate: Translation) -> Callable[[Request, Exception], Any]:
    async def handler(_request: Request, exc: Exception) -> Response:
        return translate(exc).response()

    return handler


def _document_body_errors(document: dict[str, Any], answers: Mapping[int | str, dict[str, Any]]) -> None:
    """Add ``answers`` to every operation of ``document`` that takes a request body (what it says already stays)."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status, answer in answers.items():
                    responses.setdefault(str(status), {"description": answer["description"]})


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
