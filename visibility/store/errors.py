"""What the store raises (:mod:`gumdrop.store_errors`); nothing above it sees a SQLAlchemy or driver exception.

The detector holds its events on :class:`DatabaseUnavailable` and dead-letters the event at
fault on :class:`RecordRejected`.
"""

from __future__ import annotations

from gumdrop.store_errors import DatabaseUnavailable, ErrorTranslation, InvalidCursor, RecordRejected, StoreError

__all__ = ["DatabaseUnavailable", "InvalidCursor", "RecordRejected", "StoreError", "translate"]

translate = ErrorTranslation(tables="the visibility tables", remedy="`visibility serve` migrates them")
"""The store's error for a SQLAlchemy, driver or socket exception, by what caused it."""
