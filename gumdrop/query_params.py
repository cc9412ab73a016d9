"""Query parameters a route does not take, refused: a misspelt filter must not silently widen an answer.

Every API of the platform names the parameters each route takes; anything else, and any value
holding U+0000 (no stored text can, and PostgreSQL refuses it outright), is a 422 at
``query.NAME``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import QueryParams
from starlette.requests import Request

from gumdrop.http_errors import ApiError
from gumdrop.issues import ValidationIssue

__all__ = ["only_query", "query_issues"]


def query_issues(query: QueryParams, known: frozenset[str], *, prefix: str | None = None) -> list[ValidationIssue]:
    """Names outside ``known`` (and not starting with ``prefix``), and values holding U+0000."""
    listed = ", ".join(sorted(known)) or "no query parameters"
    if prefix is not None:
        listed += f", {prefix}FIELD"
    issues = [
        ValidationIssue(f"query.{name}", f"unknown query parameter; this route takes {listed}")
        for name in dict.fromkeys(query.keys())
        if name not in known and not (prefix is not None and name.startswith(prefix))
    ]
    issues += [
        ValidationIssue(f"query.{name}", "contains the character U+0000, which no stored value holds")
        for name, value in query.multi_items()
        if "\x00" in value or "\x00" in name
    ]
    return issues


def only_query(*known: str, prefix: str | None = None) -> Callable[[Request], None]:
    """A dependency refusing (422) any query parameter but ``known`` (and ``prefix``-ed ones when given)."""
    names = frozenset(known)

    def check(request: Request) -> None:
        if issues := query_issues(request.query_params, names, prefix=prefix):
            raise ApiError(422, issues)

    return check
