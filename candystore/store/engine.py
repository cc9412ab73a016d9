"""Candystore's engines (:mod:`gumdrop.sql_engine`), with the SQL function its queries need on SQLite.

SQLite connections get :data:`EVENT_TYPE_MATCHES` (``event_type_matches(pattern, event_type)``):
event-type patterns are matched by :mod:`holyfields.wildcards` there, where PostgreSQL uses the
pattern's regular expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gumdrop import sql_engine
from gumdrop.sql_engine import SqliteFunction, create_autocommit_engine
from holyfields.wildcards import TypePattern

__all__ = ["EVENT_TYPE_MATCHES", "create_autocommit_engine", "create_engine"]

EVENT_TYPE_MATCHES = "event_type_matches"
"""The SQLite function telling whether an event type matches a pattern (NULL when either is NULL)."""


def _event_type_matches(pattern: str | None, event_type: str | None) -> bool | None:
    if pattern is None or event_type is None:
        return None
    return TypePattern.parse(pattern).matches(event_type)


_FUNCTIONS = (SqliteFunction(EVENT_TYPE_MATCHES, 2, _event_type_matches),)


def create_engine(url: str, *, connect_args: Mapping[str, Any] | None = None) -> AsyncEngine:
    """An engine for ``url`` (on SQLite: WAL, the file's folder created, patterns matched)."""
    return sql_engine.create_engine(url, connect_args=connect_args, sqlite_functions=_FUNCTIONS)
