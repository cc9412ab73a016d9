"""Holyfields: the schema registry of the 33GOD platform.

JSON Schemas for the envelope and every event type, validation of events against
them, code generation, compatibility checks and an HTTP registry.
"""

from holyfields.catalog import Catalog, CatalogError, SchemaDocument, default_catalog
from holyfields.naming import EventTypeName, InvalidEventTypeName
from holyfields.validation import EventValidator, InvalidEvent, ValidationIssue, default_validator

__all__ = [
    "Catalog",
    "CatalogError",
    "EventTypeName",
    "EventValidator",
    "InvalidEvent",
    "InvalidEventTypeName",
    "SchemaDocument",
    "ValidationIssue",
    "default_catalog",
    "default_validator",
]
