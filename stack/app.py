"""The platform's HTTP application, as ``33god up`` serves it."""

from __future__ import annotations

from fastapi import FastAPI

from bloodbank import BloodbankSettings, Bus
from bloodbank.gateway import create_gateway
from gumdrop.access_control import Access
from holyfields.catalog import Catalog

__all__ = ["create_app"]


def create_app(
    catalog: Catalog | None = None,
    *,
    settings: BloodbankSettings | None = None,
    bus: Bus | None = None,
    access: Access | None = None,
) -> FastAPI:
    """The platform app: the Bloodbank gateway with the schema registry (later components mount here too).

    Settings come from ``BLOODBANK_*`` when not given: the embedded broker under ``./.33god/``
    by default, RabbitMQ when ``BLOODBANK_BROKER_URL`` is set.
    """
    app = create_gateway(settings, bus=bus, catalog=catalog, access=access)
    app.title = "33GOD platform"
    app.description = "The 33GOD event platform: the Bloodbank event gateway and the Holyfields schema registry."
    return app
