"""``GET /okr``: the shared "Accuracy to Reality" figures (see :mod:`visibility.domain.okr`), and their hourly trend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gumdrop.access_control import requires
from gumdrop.principals import Scope
from visibility.api.errors import error_responses
from visibility.api.models import OkrModel, TrendHourModel, TrendModel
from visibility.api.params import only_query
from visibility.metrics import VisibilityMetrics
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

__all__ = ["MAX_TREND_HOURS", "okr_routes"]

MAX_TREND_HOURS = 168
"""The longest trend ``GET /okr/trend`` draws: a week of hours."""

_TREND_DESCRIPTION = """\
The detector's counters per clock hour (UTC): retail events checked, events in conflict,
conflicts opened, and the conflict rate (events in conflict in percent of the events
checked, as `conflict_rate_percent` of `GET /okr`). Every one of the last `hours` hours is
listed, oldest first, an hour with nothing counted included; the last is the hour running
now.
"""


def okr_routes(
    store: VisibilityStore,
    *,
    settings: VisibilitySettings,
    metrics: VisibilityMetrics,
    now: Callable[[], datetime] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["okr"], dependencies=[requires(Scope.READ)])
    clock = now or (lambda: datetime.now(UTC))

    @router.get(
        "/okr",
        summary="Conflict rate, time to detect, resolution rate, customer impact, disputed share",
        operation_id="getOkr",
        response_model=OkrModel,
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query("hours"))],
    )
    async def okr(
        hours: Annotated[
            float | None, Query(gt=0, le=24 * 366, description="the period to look back (default: the setting)")
        ] = None,
    ) -> OkrModel:
        period = timedelta(hours=hours) if hours is not None else timedelta(seconds=settings.okr_window)
        figures = await store.okr(now=clock(), period=period, sla=timedelta(seconds=settings.resolution_sla))
        metrics.set_okr(figures)
        return OkrModel.of(figures)

    @router.get(
        "/okr/trend",
        summary="The conflict rate per hour, with events checked and conflicts opened",
        operation_id="getOkrTrend",
        description=_TREND_DESCRIPTION,
        response_model=TrendModel,
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query("hours"))],
    )
    async def trend(
        hours: Annotated[
            int, Query(ge=1, le=MAX_TREND_HOURS, description="how many clock hours, the running one included")
        ] = 24,
    ) -> TrendModel:
        counted = await store.trend(now=clock(), hours=hours)
        return TrendModel(items=[TrendHourModel.of(counts) for counts in counted])

    return router
