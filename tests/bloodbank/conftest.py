"""Fixtures for Bloodbank tests: both transports behind one parameter, and a ready bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bloodbank import BloodbankSettings, Bus
from bloodbank.correlation import LocalCorrelationTracker
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.transport import Transport

TransportFactory = Callable[[], Transport]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def transport_factory(request: pytest.FixtureRequest, tmp_path: Path) -> TransportFactory:
    """Makes transports that share one broker: a SQLite file, or the test's RabbitMQ vhost."""
    if request.param == "rabbitmq":
        from bloodbank.transport.rabbitmq import RabbitMQTransport  # noqa: PLC0415 - only for this parameter

        url = request.getfixturevalue("rabbitmq_url")
        return lambda: RabbitMQTransport(url, connection_name=request.node.name)
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415 - only for this parameter

    path = tmp_path / "bus.sqlite3"
    return lambda: EmbeddedTransport(path)


@pytest.fixture
async def bus(transport_factory: TransportFactory, tmp_path: Path) -> AsyncIterator[Bus]:
    """A started bus on the parametrized transport, with local stores in the test's folder."""
    settings = BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0)
    started = await Bus.start(
        settings,
        transport=transport_factory(),
        idempotency=LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600),
        tracker=LocalCorrelationTracker(ttl=3600),
    )
    yield started
    await started.close(timeout=5)
