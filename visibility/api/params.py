"""Refusing query parameters a route does not know, so a misspelt filter never silently returns everything."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from holyfields import ValidationIssue
from visibility.api.errors import ApiError

__all__ = ["only_query"]


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
