"""``Transport.describe_queues`` on RabbitMQ: from the management API when it answers, by passive declarations else.

The local RabbitMQ may or may not run the management plugin (``rabbitmq_management`` on
15672). The test against it runs only where it answers; the fallback runs against the real
broker with a management URL where nothing listens; the reading of a listing is checked on
the management API's documented shape (``GET /api/queues/{vhost}``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from bloodbank import ConsumerSpec, Publisher, build_envelope
from bloodbank.topology import RETRY_DELAYS
from bloodbank.transport import QueueReading, QueueState, RetryTierState
from bloodbank.transport.rabbitmq import RabbitMQTransport
from bloodbank.transport.rabbitmq.management import describe_from_listing
from holyfields import default_catalog, default_validator
from tests.bloodbank.waiting import eventually

CHECKER = ConsumerSpec("pricing.checker", ("retail.#",))
OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "queue-descriptions"}
MANAGEMENT = "http://127.0.0.1:15672"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _management_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 15672), timeout=1):
            return True
    except OSError:
        return False


async def _connected(url: str, management_url: str | None) -> RabbitMQTransport:
    transport = RabbitMQTransport(url, shared_consumers=(), management_url=management_url)
    await transport.connect()
    await transport.declare_topology()
    await transport.declare_consumer(CHECKER)
    return transport


@pytest.fixture
async def unanswered(rabbitmq_url) -> AsyncIterator[RabbitMQTransport]:
    """A transport whose management URL points where nothing listens."""
    transport = await _connected(rabbitmq_url, f"http://127.0.0.1:{_closed_port()}")
    yield transport
    await transport.close()


@pytest.mark.rabbitmq
async def test_an_unanswered_management_api_falls_back_to_passive_declarations(unanswered) -> None:
    """Without the management API the queues are still read, by passive declarations, and the problem is told."""
    publisher = Publisher(unanswered, validator=default_validator(), source=SOURCE, publish_timeout=5)
    await publisher.publish_envelope(build_envelope(OFFER_TYPE, OFFER, source=SOURCE))
    described = await unanswered.describe_queues([CHECKER])
    assert described.reading is QueueReading.PASSIVE
    assert described.problem is not None
    assert described.problem.startswith("the management API at http://127.0.0.1:")
    assert "did not answer" in described.problem
    (checker,) = described.consumers
    assert (checker.name, checker.ready, checker.unacked, checker.consumers) == ("pricing.checker", 1, None, 0)
    assert checker.deliver_rate is None
    assert [tier.messages for tier in checker.retry_tiers] == [0, 0, 0]
    assert described.unrouted == QueueState(ready=0, unacked=None, consumers=0)


@pytest.mark.rabbitmq
@pytest.mark.skipif(not _management_answers(), reason="RabbitMQ's management plugin does not answer on 15672 here")
async def test_the_management_api_lists_every_consumer_queue_with_rates(rabbitmq_url) -> None:
    """With the management API, a consumer queue nobody named is listed too, with unacked counts and rates."""
    transport = await _connected(rabbitmq_url, MANAGEMENT)
    try:
        publisher = Publisher(transport, validator=default_validator(), source=SOURCE, publish_timeout=5)
        await publisher.publish_envelope(build_envelope(OFFER_TYPE, OFFER, source=SOURCE))

        async def listed() -> bool:  # the management API's figures lag the broker by a few seconds
            found = await transport.describe_queues([])
            return [(q.name, q.ready) for q in found.consumers] == [("pricing.checker", 1)]

        await eventually(listed, timeout=30)
        described = await transport.describe_queues([])
        assert described.reading is QueueReading.MANAGEMENT
        (checker,) = described.consumers
        assert checker.unacked == 0
        assert checker.publish_rate is not None
        assert [tier.delay for tier in checker.retry_tiers] == list(RETRY_DELAYS)
    finally:
        await transport.close()


def _queue(name: str, arguments: dict[str, object], ready: int, unacked: int, **stats: float) -> dict[str, object]:
    """A queue as the management API lists it (the fields read, among many others)."""
    return {
        "name": name,
        "vhost": "/",
        "arguments": arguments,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
        "consumers": 2,
        "message_stats": {f"{key}_details": {"rate": rate} for key, rate in stats.items()},
    }


def test_a_listing_is_read_into_consumers_tiers_and_shared_queues() -> None:
    """Consumer queues are found by their arguments, tiers by TTL and dead-letter target; rates are the broker's."""
    other = ConsumerSpec("stock.sync", ("#",), retry_delays=(10.0,))
    listing = [
        _queue("stock.sync", other.queue_arguments(), 5, 1, publish=2.5, deliver_get=2.0, ack=1.5),
        _queue("stock.sync.retry.10s", other.retry_queue_arguments(10.0), 0, 3),
        _queue("pricing.checker", CHECKER.queue_arguments(), 7, 0),
        _queue("pricing.checker.retry.1s", CHECKER.retry_queue_arguments(1.0), 4, 0),
        _queue("dlq.all", {"x-queue-type": "quorum"}, 1, 0),
        _queue("unrouted.all", {"x-queue-type": "quorum"}, 2, 0),
        _queue("amq.gen-tail", {}, 9, 0),
    ]
    described = describe_from_listing(listing, [CHECKER])
    assert described.reading is QueueReading.MANAGEMENT
    checker, stock = described.consumers
    assert (checker.name, checker.ready, checker.unacked, checker.consumers) == ("pricing.checker", 7, 0, 2)
    assert checker.retry_tiers == (
        RetryTierState(1.0, "pricing.checker.retry.1s", 4),
        RetryTierState(2.0, "pricing.checker.retry.2s", None),
        RetryTierState(4.0, "pricing.checker.retry.4s", None),
    )
    assert (checker.publish_rate, checker.deliver_rate, checker.ack_rate) == (0.0, 0.0, 0.0)
    assert (stock.publish_rate, stock.deliver_rate, stock.ack_rate) == (2.5, 2.0, 1.5)
    assert stock.retry_tiers == (RetryTierState(10.0, "stock.sync.retry.10s", 3),)
    assert described.dead_letters == QueueState(ready=1, unacked=0, consumers=2)
    assert described.unrouted == QueueState(ready=2, unacked=0, consumers=2)
