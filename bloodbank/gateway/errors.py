"""The gateway's error answers: the platform's one shape (:mod:`gumdrop.http_errors`) and what the gateway adds.

::

    ApiError
      GatewayError               an error answer of the gateway; ``broker_unavailable`` builds its 503
"""

from __future__ import annotations

from typing import Any, Self

from fastapi import FastAPI

from gumdrop import http_errors
from gumdrop.http_errors import (
    RETRY_AFTER_SECONDS,
    WHOLE_REQUEST,
    ApiError,
    ErrorBody,
    ErrorItem,
    body_answers,
    documented,
    issues_as_json,
    json_response,
)

__all__ = [
    "BODY_ERRORS",
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

BODY_ERRORS = body_answers("BLOODBANK_MAX_BODY_BYTES", media_types="`application/json` (or `application/*+json`)")
"""What the gateway answers a body it refuses before reading it as events (:mod:`gumdrop.http_limits`)."""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: documented("API keys are configured and the request has none of them (`X-API-Key` or `Bearer`)"),
    **BODY_ERRORS,
    413: documented("The body is larger than `BLOODBANK_MAX_BODY_BYTES`, or the batch has too many events"),
    422: documented(
        "Invalid input: every problem, each with the JSON path of the offending value (a duplicate key, "
        "nesting too deep, U+0000 and numbers beyond a double are refused too)"
    ),
    503: documented("The broker did not confirm in time: nothing was accepted; retry after `Retry-After` seconds"),
}
"""The error answers of the publishing routes, for the OpenAPI document."""


class GatewayError(ApiError):
    """An error answer of the gateway."""

    @classmethod
    def broker_unavailable(cls, detail: str) -> Self:
        return cls.unavailable(f"{detail}: the event was not accepted")


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the platform's shape, and say so in its OpenAPI document."""
    http_errors.install_error_handlers(app, service="this gateway", body_errors=BODY_ERRORS)
