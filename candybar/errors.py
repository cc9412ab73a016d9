"""The platform's one error shape (:mod:`gumdrop.http_errors`) for the UI server, with its own guidance.

``path`` says where the problem is and is ``null`` when it concerns the request as a
whole; Starlette's 404s and 405s are rewritten into it, and an unexpected error answers
500 in the same shape, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from fastapi.responses import Response

from gumdrop import http_errors
from gumdrop.http_errors import ApiError

__all__ = ["error_response", "install_error_handlers"]


def error_response(
    status: int, message: str, *, path: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """An answer with one error in the platform's shape."""
    return ApiError.at(status, path, message, headers=headers).response()


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the platform's shape."""
    http_errors.install_error_handlers(
        app, service="the UI server", guide="the UI's pages are served from / and answer GET and HEAD"
    )
