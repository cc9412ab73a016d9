"""Fixtures for Bloodbank tests: both transports behind one parameter, and a ready bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bloodbank import BloodbankSettings, Bus
from bloodbank.correlation import LocalCorrelationTracker
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.transport import Transport

TransportFactory = Callable[..., Transport]
"""Makes a transport; keyword arguments go to its constructor (e.g. ``shared_consumers=()``)."""


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("rabbitmq-basic-publish", marks=pytest.mark.rabbitmq),
    ]
)
def transport_factory(request: pytest.FixtureRequest, tmp_path: Path) -> TransportFactory:
    """Makes transports that share one broker: a SQLite file, or the test's RabbitMQ vhost.

    ``rabbitmq`` takes the fast publish path (checked against aiormq at start), and
    ``rabbitmq-basic-publish`` the fallback every publish takes when that check fails.
    """
    if request.param.startswith("rabbitmq"):
        from bloodbank.transport.rabbitmq import RabbitMQTransport  # noqa: PLC0415 - only for this parameter

        url = request.getfixturevalue("rabbitmq_url")
        fast = request.param == "rabbitmq"
        return lambda **options: RabbitMQTransport(url, connection_name=request.node.name, fast_publish=fast, **options)
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415 - only for this parameter

    path = tmp_path / "bus.sqlite3"
    return lambda **options: EmbeddedTransport(path, **options)


@pytest.fixture
async def bus(transport_factory: TransportFactory, tmp_path: Path) -> AsyncIterator[Bus]:
    """A started bus on the parametrized transport, with local stores in the test's folder."""
    started = await _start_bus(transport_factory(), tmp_path)
    yield started
    await started.close(timeout=5)


@pytest.fixture
async def bus_without_store_queue(transport_factory: TransportFactory, tmp_path: Path) -> AsyncIterator[Bus]:
    """A started bus whose topology leaves out the store's queue, as on a broker where it was deleted."""
    started = await _start_bus(transport_factory(shared_consumers=()), tmp_path)
    yield started
    await started.close(timeout=5)


async def _start_bus(transport: Transport, tmp_path: Path) -> Bus:
    settings = BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0)
    return await Bus.start(
        settings,
        transport=transport,
        idempotency=LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600),
        tracker=LocalCorrelationTracker(ttl=3600),
    )
