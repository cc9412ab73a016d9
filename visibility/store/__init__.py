"""The visibility layer's storage: tables, migrations and the :class:`VisibilityStore` repository.

It hands back the values of :mod:`visibility.domain.records`.
"""

from visibility.store.errors import DatabaseUnavailable, InvalidCursor, RecordRejected, StoreError
from visibility.store.queries import ConflictFilter, ConflictPage
from visibility.store.repository import VisibilityStore
from visibility.store.trend import HourCounts

__all__ = [
    "ConflictFilter",
    "ConflictPage",
    "DatabaseUnavailable",
    "HourCounts",
    "InvalidCursor",
    "RecordRejected",
    "StoreError",
    "VisibilityStore",
]
