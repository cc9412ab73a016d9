"""``GET /okr``: the shared "Accuracy to Reality" figures (see :mod:`visibility.okr`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from bloodbank.gateway.errors import json_response
from visibility.api.errors import error_responses
from visibility.api.params import only_query
from visibility.metrics import VisibilityMetrics
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

__all__ = ["okr_routes"]


def okr_routes(
    store: VisibilityStore,
    *,
    settings: VisibilitySettings,
    metrics: VisibilityMetrics,
    now: Callable[[], datetime] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["okr"])
    clock = now or (lambda: datetime.now(UTC))

    @router.get(
        "/okr",
        summary="Conflict rate, time to detect, resolution rate, customer impact, disputed share",
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query("hours"))],
    )
    async def okr(
        hours: Annotated[
            float | None, Query(gt=0, le=24 * 366, description="the period to look back (default: the setting)")
        ] = None,
    ) -> Response:
        period = timedelta(hours=hours) if hours is not None else timedelta(seconds=settings.okr_window)
        figures = await store.okr(now=clock(), period=period, sla=timedelta(seconds=settings.resolution_sla))
        metrics.set_okr(figures)
        return json_response(200, figures.as_json())

    return router
