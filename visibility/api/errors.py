"""The visibility API's error answers: the platform's one shape (:mod:`gumdrop.http_errors`), a store's answers
(:mod:`gumdrop.store_answers`: cursor 422, database 503, store 500) and its own::

    ReasonRequired         422  $.note
    TransitionRefused      409  saying why the action does not apply
    ApiError               its own status (raised by the routes)
"""

from __future__ import annotations

from functools import partial

from gumdrop.http_errors import ApiError, Translation, body_answers, error_answers
from gumdrop.store_answers import STORE_TRANSLATIONS
from visibility.domain.transitions import ReasonRequired, TransitionRefused

__all__ = ["BODY_ERRORS", "TRANSLATIONS", "error_responses"]

BODY_ERRORS = body_answers("VISIBILITY_MAX_BODY_BYTES")
"""What a route that takes a body may answer before reading it (documented on each such route)."""

error_responses = partial(
    error_answers,
    {
        404: "No such conflict (the message names the id)",
        409: "The action does not apply to the conflict's status (the message says why)",
        422: "Invalid input: every problem, each with the query parameter, path parameter or JSON path at fault",
        503: "The database is unavailable: retry after `Retry-After` seconds",
    },
)
"""The OpenAPI ``responses`` of a route that can answer the statuses given, all in the error shape."""

TRANSLATIONS: dict[type[Exception], Translation] = {
    **STORE_TRANSLATIONS,
    ReasonRequired: lambda exc: ApiError.at(422, "$.note", str(exc)),
    TransitionRefused: lambda exc: ApiError.about_request(409, str(exc)),
}
