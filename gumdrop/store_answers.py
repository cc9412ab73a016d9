"""How a store's errors are answered over HTTP, alike in every service with a store::

InvalidCursor          422  query.cursor
DatabaseUnavailable    503  Retry-After: 5
StoreError (others)    500  what the store said
"""

from __future__ import annotations

import structlog

from gumdrop.http_errors import ApiError, Translation
from gumdrop.store_errors import DatabaseUnavailable, InvalidCursor, StoreError

__all__ = ["STORE_TRANSLATIONS"]

log = structlog.get_logger(__name__)


def _database_unavailable(exc: Exception) -> ApiError:
    log.warning("database unavailable", error=str(exc))
    return ApiError.unavailable(str(exc))


def _store_error(exc: Exception) -> ApiError:
    log.error("store error", error=str(exc))
    return ApiError.about_request(500, str(exc))


STORE_TRANSLATIONS: dict[type[Exception], Translation] = {
    InvalidCursor: lambda exc: ApiError.at(422, "query.cursor", str(exc)),
    DatabaseUnavailable: _database_unavailable,
    StoreError: _store_error,
}
"""The translations of a store's errors; a service puts its own, more specific ones before these."""
