"""The one error shape of the platform's HTTP answers, ``{"errors": [{"path", "message"}]}``, for this server.

``path`` says where the problem is (``path.NAME``, ``query.NAME``) and is ``null`` when it
concerns the request as a whole; Starlette's 404s and 405s are rewritten into it, and an
unexpected error answers 500 in the same shape, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

__all__ = ["error_response", "install_error_handlers"]

log = structlog.get_logger(__name__)


def error_response(
    status: int, message: str, *, path: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """An answer with one error in the platform's shape."""
    return JSONResponse({"errors": [{"path": path, "message": message}]}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the platform's shape."""
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":  # noqa: PLR2004 - Starlette's answer for a missing file
        message = f"nothing at {request.url.path}: the UI's own pages are served from /"
    elif exc.status_code == 405 and message == "Method Not Allowed":  # noqa: PLR2004
        message = f"{request.method} is not allowed on {request.url.path}: the UI server answers GET and HEAD"
    return error_response(exc.status_code, message, headers=exc.headers)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = [{"path": _location(error.get("loc", ())), "message": str(error.get("msg", ""))} for error in exc.errors()]
    return JSONResponse({"errors": errors}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error in the UI server", path=request.url.path, exc_info=exc)
    return error_response(500, "internal error: see the UI server's log")


def _location(loc: Sequence[str | int]) -> str | None:
    return ".".join(str(part) for part in loc) or None
