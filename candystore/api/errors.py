"""Candystore's error answers: the platform's one shape (:mod:`gumdrop.http_errors`) and its own translations.

Store and bus exceptions become answers here::

    InvalidCursor          422  query.cursor
    DeadLetterNotOpen      409  saying the dead letter's state
    DatabaseUnavailable    503  Retry-After: 5
    BrokerUnavailable      503  Retry-After: 5
    StoreError (others)    500  what the store said
    ApiError               its own status (raised by the routes)
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI

from bloodbank import BrokerUnavailable
from candystore.store import DatabaseUnavailable, InvalidCursor, StoreError
from candystore.store.dead_letters import DeadLetterNotOpen
from gumdrop import http_errors
from gumdrop.http_errors import (
    RETRY_AFTER_SECONDS,
    ApiError,
    Translation,
    body_answers,
    documented,
    issues_from_pydantic,
)

__all__ = [
    "BODY_ERRORS",
    "RETRY_AFTER_SECONDS",
    "ApiError",
    "error_responses",
    "install_error_handlers",
    "issues_from_pydantic",
]

log = structlog.get_logger(__name__)

_DESCRIPTIONS = {
    404: "No such resource (the message names the id)",
    409: "The dead letter is no longer open (the message says its state)",
    422: "Invalid input: every problem, each with the query parameter, path parameter or JSON path at fault",
    503: "The database (or, for replays, the bus) is unavailable: retry after `Retry-After` seconds",
}


BODY_ERRORS = body_answers("CANDYSTORE_MAX_BODY_BYTES")
"""What a route that takes a body may answer before reading it (documented on each such route)."""


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can answer ``statuses``, all in the error shape."""
    return {status: documented(_DESCRIPTIONS[status]) for status in statuses}


def _database_unavailable(exc: Exception) -> ApiError:
    log.warning("database unavailable", error=str(exc))
    return ApiError.unavailable(str(exc))


def _broker_unavailable(exc: Exception) -> ApiError:
    log.warning("broker unavailable", error=str(exc))
    return ApiError.unavailable(f"the bus is unavailable: {exc}")


def _store_error(exc: Exception) -> ApiError:
    log.error("store error", error=str(exc))
    return ApiError.about_request(500, str(exc))


_TRANSLATIONS: dict[type[Exception], Translation] = {
    InvalidCursor: lambda exc: ApiError.at(422, "query.cursor", str(exc)),
    DeadLetterNotOpen: lambda exc: ApiError.about_request(409, str(exc)),
    DatabaseUnavailable: _database_unavailable,
    BrokerUnavailable: _broker_unavailable,
    StoreError: _store_error,
}


def install_error_handlers(app: FastAPI) -> None:
    """Give every error answer of ``app`` the one shape, and say so in its OpenAPI document."""
    http_errors.install_error_handlers(app, service="Candystore", translations=_TRANSLATIONS, body_errors=BODY_ERRORS)
