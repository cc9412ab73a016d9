"""Query parameters: refusing names a route does not know, and times read by the platform's one parser.

A misspelt filter is refused (422) rather than ignored, so it never silently returns
everything; a time outside what the store holds (:data:`Timestamp`) is a 422, not a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Request
from pydantic import WithJsonSchema

from bloodbank.openapi import CURSOR_SCHEMA, Timestamp
from gumdrop.http_errors import ApiError
from holyfields import ValidationIssue

__all__ = ["Cursor", "Timestamp", "only_query"]


Cursor = Annotated[str, WithJsonSchema(CURSOR_SCHEMA)]
"""A page position the API issued (the store refuses, 422, one it did not)."""


def only_query(*known: str) -> Callable[[Request], None]:
    """A dependency refusing (422) any query parameter but ``known``, and values holding U+0000."""
    names = set(known)
    listed = ", ".join(sorted(names)) or "no query parameters"

    def check(request: Request) -> None:
        query = request.query_params
        issues = [
            ValidationIssue(f"query.{name}", f"unknown query parameter; this route takes {listed}")
            for name in dict.fromkeys(query.keys())
            if name not in names
        ]
        issues += [
            ValidationIssue(f"query.{name}", "contains the character U+0000, which no stored value holds")
            for name, value in query.multi_items()
            if "\x00" in value or "\x00" in name
        ]
        if issues:
            raise ApiError(422, issues)

    return check
