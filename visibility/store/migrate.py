"""The visibility layer's Alembic migrations (``visibility/migrations``), run by :class:`gumdrop.migrations.Migrations`.

They have a version table of their own: the database is Candystore's by default, and each
component migrates its own tables.
"""

from __future__ import annotations

from gumdrop.migrations import Migrations
from visibility.store.errors import translate

__all__ = ["MIGRATIONS", "current_revision", "downgrade", "upgrade"]

MIGRATIONS = Migrations("visibility:migrations", translate, version_table="visibility_alembic_version")

upgrade = MIGRATIONS.upgrade
downgrade = MIGRATIONS.downgrade
current_revision = MIGRATIONS.current_revision
