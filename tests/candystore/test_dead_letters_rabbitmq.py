"""Dead letters RabbitMQ makes by itself, kept with who and why all the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from bloodbank import ConsumerSpec
from bloodbank.transport import Delivery, OutgoingMessage
from bloodbank.transport.rabbitmq import RabbitMQTransport
from candystore.dead_letters import DeadLetterKeeper
from candystore.settings import CandystoreSettings
from candystore.store import DeadLetterState
from candystore.store.migrate import upgrade
from tests.bloodbank.waiting import eventually

pytestmark = pytest.mark.rabbitmq


async def test_a_message_past_the_delivery_limit_is_kept_with_its_queue_and_reason(
    rabbitmq_url, sqlite_database, tmp_path
):
    """A consumer that never settles spends the quorum queue's delivery limit; the letter still says why."""
    store = sqlite_database.store()
    await upgrade(store.engine)
    transport = RabbitMQTransport(rabbitmq_url)
    await transport.connect()
    spec = ConsumerSpec("crashing.consumer", ("#",), delivery_limit=2)
    keeper = DeadLetterKeeper(
        transport, store, settings=CandystoreSettings(data_dir=tmp_path, batch_wait=0.02), registry=CollectorRegistry()
    )
    given_back = 0

    async def give_back(delivery: Delivery) -> None:  # as a consumer crashing mid-handler does
        nonlocal given_back
        given_back += 1
        await delivery.release()

    async def kept() -> bool:
        return bool((await store.dead_letters()).items)

    try:
        await transport.declare_topology()
        await transport.declare_consumer(spec)
        await keeper.start()
        before = datetime.now(UTC)
        message = OutgoingMessage(b'{"event_type": "retail.offer.surfaced.v1"}', "retail.offer.surfaced.v1", "m-1", {})
        await transport.publish_batch([message], timeout=5)
        subscription = await transport.consume(spec, give_back, prefetch=1)
        try:
            await eventually(kept, timeout=20)
        finally:
            await subscription.stop(timeout=5)
        page = await store.dead_letters()
    finally:
        await keeper.stop(timeout=5)
        await transport.close()
        await store.close()

    assert given_back == 3  # delivered once, then given back twice more: the limit of 2 returns
    [letter] = page.items
    assert letter.consumer == "crashing.consumer"
    assert letter.error is not None
    assert letter.error.startswith("delivery limit exceeded")
    assert letter.error.endswith("[RabbitMQ: delivery_limit]")
    assert letter.event_type == "retail.offer.surfaced.v1"
    assert letter.state is DeadLetterState.OPEN
    assert letter.failed_at is not None
    assert letter.failed_at >= before.replace(microsecond=0)
