"""Candystore's error answers: the platform's one shape (:mod:`gumdrop.http_errors`), a store's answers
(:mod:`gumdrop.store_answers`: cursor 422, database 503, store 500) and its own::

    DeadLetterNotOpen      409  saying the dead letter's state
    BrokerUnavailable      503  Retry-After: 5
    ApiError               its own status (raised by the routes)
"""

from __future__ import annotations

from functools import partial

import structlog

from bloodbank import BrokerUnavailable
from candystore.store.dead_letters import DeadLetterNotOpen
from gumdrop.http_errors import ApiError, Translation, body_answers, error_answers
from gumdrop.store_answers import STORE_TRANSLATIONS

__all__ = ["BODY_ERRORS", "TRANSLATIONS", "error_responses"]

log = structlog.get_logger(__name__)

BODY_ERRORS = body_answers("CANDYSTORE_MAX_BODY_BYTES")
"""What a route that takes a body may answer before reading it (documented on each such route)."""

error_responses = partial(
    error_answers,
    {
        404: "No such resource (the message names the id)",
        409: "The dead letter is no longer open (the message says its state)",
        422: "Invalid input: every problem, each with the query parameter, path parameter or JSON path at fault",
        503: "The database (or, for replays, the bus) is unavailable: retry after `Retry-After` seconds",
    },
)
"""The OpenAPI ``responses`` of a route that can answer the statuses given, all in the error shape."""


def _broker_unavailable(exc: Exception) -> ApiError:
    log.warning("broker unavailable", error=str(exc))
    return ApiError.unavailable(f"the bus is unavailable: {exc}")


TRANSLATIONS: dict[type[Exception], Translation] = {
    **STORE_TRANSLATIONS,
    DeadLetterNotOpen: lambda exc: ApiError.about_request(409, str(exc)),
    BrokerUnavailable: _broker_unavailable,
}
