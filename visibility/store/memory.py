"""The detector's memory in the database: each view's observations, written with the conflicts they caused.

A row per (view, entity, team): the entity is its field values as a JSON array, the team
empty for a truth. Forgetting a view's expired observations is one ``DELETE`` by its
``(view, at)`` index.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from visibility.domain.observations import Observation
from visibility.domain.state import StateChanges, StoredObservation
from visibility.store.schema import observations
from visibility.store.upsert import upsert

__all__ = ["load_memory", "persist_changes"]


async def persist_changes(connection: AsyncConnection, changes: StateChanges) -> None:
    """Write what the detector's memory changed: held observations upserted, expired ones deleted."""
    rows = [
        {
            "view": held.view,
            "entity": msgspec.json.encode(held.key).decode(),
            "team": held.team or "",
            "event_id": held.observation.event_id,
            "at": held.observation.at,
            "document": held.observation.as_json(),
        }
        for held in changes.held.values()
    ]
    await upsert(connection, observations, rows, keys=("view", "entity", "team"))
    for view, before in changes.forgotten_before.items():
        await connection.execute(
            delete(observations).where(
                and_(observations.c.view == view, observations.c.at < before, observations.c.team != "")
            )
        )


async def load_memory(connection: AsyncConnection) -> list[StoredObservation]:
    """Every held observation, as the detector's memory is restored from them."""
    found = await connection.execute(select(observations.c.view, observations.c.entity, observations.c.document))
    return [
        StoredObservation(row.view, tuple(msgspec.json.decode(row.entity)), Observation.from_json(row.document))
        for row in found
    ]
