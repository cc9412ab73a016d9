"""``GET /stats``: counts by type, source and hour over a window, recent rates, dead letters by state;
``GET /stats/series``: the same store per minute over the last hours (stored, dead-lettered, latency, lag)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from candystore.api.errors import error_responses
from candystore.api.models import StatsModel
from candystore.api.params import Timestamp, only_query
from candystore.store import EventStore
from candystore.store.series import MAX_HOURS, Series
from candystore.store.stats import MAX_WINDOW
from gumdrop.access_control import requires
from gumdrop.http_errors import ApiError
from gumdrop.principals import Scope

__all__ = ["SeriesModel", "stats_routes"]

DEFAULT_WINDOW = timedelta(hours=24)
LAST_START = datetime(9999, 12, 31, tzinfo=UTC)
"""The latest start of a default window: one day later is still a time the store holds."""


DEFAULT_SERIES_HOURS = 6


class MinutePointModel(BaseModel):
    minute: datetime = Field(description="the start of the minute, UTC (by envelope timestamp)")
    stored: int = Field(description="events stored whose timestamp falls in the minute")
    dead_lettered: int = Field(description="dead letters Candystore kept in the minute")
    latency_p50: float | None = Field(description="seconds from envelope timestamp to commit; null without events")
    latency_p95: float | None
    latency_p99: float | None
    lag: float | None = Field(description="the largest latency of the minute, in seconds; null without events")


class SeriesModel(BaseModel):
    """Per-minute points over `[since, until)`, from the database every replica writes to."""

    since: datetime
    until: datetime
    points: list[MinutePointModel] = Field(description="every minute, oldest first, empty ones included")

    @classmethod
    def of(cls, series: Series) -> SeriesModel:
        return cls(
            since=series.since,
            until=series.until,
            points=[
                MinutePointModel(
                    minute=point.minute,
                    stored=point.stored,
                    dead_lettered=point.dead_lettered,
                    latency_p50=point.latency_p50,
                    latency_p95=point.latency_p95,
                    latency_p99=point.latency_p99,
                    lag=point.lag,
                )
                for point in series.points
            ],
        )


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

    @router.get(
        "/stats/series",
        response_model=SeriesModel,
        summary="Per-minute stored events, dead letters, latency percentiles and lag of the last hours",
        operation_id="getStatsSeries",
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query("hours"))],
    )
    async def series(
        hours: Annotated[
            int, Query(ge=1, le=MAX_HOURS, description=f"how many hours before now (at most {MAX_HOURS})")
        ] = DEFAULT_SERIES_HOURS,
    ) -> SeriesModel:
        return SeriesModel.of(await store.series(hours=hours, now=datetime.now(UTC)))

    return router
