"""The visibility layer's storage: tables, migrations and the :class:`VisibilityStore` repository."""

from visibility.store.errors import DatabaseUnavailable, InvalidCursor, RecordRejected, StoreError
from visibility.store.queries import ConflictFilter, ConflictPage
from visibility.store.records import ActionRecord, ConflictRecord
from visibility.store.repository import VisibilityStore
from visibility.store.trend import HourCounts

__all__ = [
    "ActionRecord",
    "ConflictFilter",
    "ConflictPage",
    "ConflictRecord",
    "DatabaseUnavailable",
    "HourCounts",
    "InvalidCursor",
    "RecordRejected",
    "StoreError",
    "VisibilityStore",
]
