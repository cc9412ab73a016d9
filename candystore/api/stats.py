"""``GET /stats``: counts by type, source and hour over a window, recent rates, dead letters by state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from candystore.api.errors import error_responses
from candystore.api.models import StatsModel
from candystore.api.params import Timestamp, only_query
from candystore.store import EventStore
from candystore.store.stats import MAX_WINDOW
from gumdrop.access_control import requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Scope

__all__ = ["stats_routes"]

DEFAULT_WINDOW = timedelta(hours=24)
LAST_START = datetime(9999, 12, 31, tzinfo=UTC)
"""The latest start of a default window: one day later is still a time the store holds."""


def stats_routes(store: EventStore) -> APIRouter:
    router = APIRouter(tags=["stats"], dependencies=[requires(Scope.READ)])

    @router.get(
        "/stats",
        response_model=StatsModel,
        summary="Counts by type, source and hour; rates; dead letters by state",
        operation_id="getStats",
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query("since", "until"))],
    )
    async def stats(
        since: Annotated[
            Timestamp | None, Query(description="window start, by event timestamp (default: 24 h before until)")
        ] = None,
        until: Annotated[
            Timestamp | None,
            Query(description="window end, exclusive (default: now, or 24 h after since when only since is given)"),
        ] = None,
    ) -> StatsModel:
        now = datetime.now(UTC)
        end = until or (now if since is None else min(since, LAST_START) + DEFAULT_WINDOW)
        start = since or end - DEFAULT_WINDOW
        if start > end:
            raise ApiError.at(422, "query.since", f"since must not be after until ({end.isoformat()})")
        if end - start > MAX_WINDOW:
            raise ApiError.at(
                422, "query.since", f"the window spans more than {MAX_WINDOW.days} days: narrow since and until"
            )
        return StatsModel.of(await store.stats(since=start, until=end, now=now))

    return router
