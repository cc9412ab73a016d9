# ruff: noqa: INP001  (Alembic loads this file by path)
"""Alembic environment: runs on the connection given by :mod:`candystore.store.migrate`."""

from typing import Any

from alembic import context

from candystore.store.schema import exists_on, metadata

connection: Any = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Candystore's migrations with `candystore migrate` (candystore.store.migrate.upgrade)")


def include_object(item: Any, _name: str | None, _kind: str, _reflected: bool, _compare_to: Any) -> bool:
    return exists_on(item, connection.dialect.name)


context.configure(connection=connection, target_metadata=metadata, include_object=include_object)
with context.begin_transaction():
    context.run_migrations()
