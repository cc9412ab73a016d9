"""Query parameters: refusing names a route does not know, and times read by the platform's one parser.

A misspelt filter is refused (422) rather than ignored, so it never silently returns
everything; a time outside what the store holds (:data:`Timestamp`) is a 422, not a 500.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import WithJsonSchema

from bloodbank.openapi import CURSOR_SCHEMA, Timestamp
from gumdrop.query_params import only_query

__all__ = ["Cursor", "Timestamp", "only_query"]


Cursor = Annotated[str, WithJsonSchema(CURSOR_SCHEMA)]
"""A page position the API issued (the store refuses, 422, one it did not)."""
