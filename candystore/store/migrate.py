"""Candystore's Alembic migrations (``candystore/migrations``), run by :class:`gumdrop.migrations.Migrations`."""

from __future__ import annotations

from candystore.store.errors import translate
from gumdrop.migrations import Migrations

__all__ = ["MIGRATIONS", "current_revision", "downgrade", "upgrade"]

MIGRATIONS = Migrations("candystore:migrations", translate)

upgrade = MIGRATIONS.upgrade
downgrade = MIGRATIONS.downgrade
current_revision = MIGRATIONS.current_revision
