# ruff: noqa: INP001  (Alembic loads this file by path)
"""Alembic environment: runs on the connection given by :mod:`visibility.store.migrate`."""

from typing import Any

from alembic import context

from visibility.store.schema import metadata

connection: Any = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the visibility migrations with visibility.store.migrate.upgrade (`visibility serve` does)")


def include_name(name: str | None, kind: str, _parent: Any) -> bool:
    # The database is shared with Candystore: only our own tables are ours to compare.
    return kind != "table" or (name or "").startswith("visibility_")


context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=context.config.attributes["version_table"],
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
