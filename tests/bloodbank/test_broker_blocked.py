"""A broker that blocks publishing (a memory alarm): the transport, the gauge and the gateway's readiness say so.

RabbitMQ blocks a connection when it publishes during the alarm (``connection.blocked``)
and unblocks it when the alarm clears; :func:`tests.broker_alarm.memory_alarm` raises the
alarm for the test's virtual host alone.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from bloodbank import BloodbankSettings
from bloodbank.errors import BrokerUnavailable
from bloodbank.gateway import create_gateway
from bloodbank.metrics import BloodbankMetrics
from bloodbank.transport import OutgoingMessage
from bloodbank.transport.rabbitmq import RabbitMQTransport
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually
from tests.broker_alarm import memory_alarm

pytestmark = pytest.mark.rabbitmq

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
BLOCKED = (
    "the broker has blocked publishing (a memory or disk alarm): events would wait for their confirm until it "
    "clears; free memory or disk space on the broker"
)


def message() -> OutgoingMessage:
    message_id = str(uuid.uuid4())
    return OutgoingMessage(b'{"event_id": "%s"}' % message_id.encode(), OFFER_TYPE, message_id)


def gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("bloodbank_broker_blocked")


async def test_transport_reports_the_block_until_the_alarm_clears(rabbitmq_url: str) -> None:
    """A publish during the alarm gets the connection blocked: `blocked` and the gauge say so until it clears."""
    transport = RabbitMQTransport(rabbitmq_url, connection_name="blocked-transport", call_timeout=5)
    metrics = BloodbankMetrics()
    metrics.report_blocked(lambda: transport.blocked)
    await transport.connect(timeout=5)
    try:
        await transport.declare_topology()
        assert (transport.blocked, gauge(metrics.registry)) == (False, 0.0)
        with memory_alarm(rabbitmq_url):
            with pytest.raises(BrokerUnavailable, match=r"did not confirm 1 message\(s\) within 1 s"):
                await transport.publish_batch([message()], timeout=1)
            await eventually(lambda: transport.blocked)
            assert gauge(metrics.registry) == 1.0
        await eventually(lambda: not transport.blocked)
        assert gauge(metrics.registry) == 0.0
        [confirmed] = await transport.publish_batch([message()], timeout=5)
        assert confirmed.routed is None  # confirmed: RabbitMQ cannot tell whether a queue took it
    finally:
        await transport.close()


def test_gateway_is_not_ready_while_the_broker_blocks_publishing(rabbitmq_url: str, tmp_path: Path) -> None:
    """While RabbitMQ blocks the gateway, `/health/ready` is 503 saying why and `bloodbank_broker_blocked` is 1."""
    settings = BloodbankSettings(broker_url=rabbitmq_url, data_dir=tmp_path, publish_timeout=1)
    with TestClient(create_gateway(settings), base_url="http://localhost") as client:
        assert client.get("/health/ready").status_code == 200
        assert "bloodbank_broker_blocked 0.0" in client.get("/metrics").text
        with memory_alarm(rabbitmq_url):
            refused = client.post("/events", json={"event_type": OFFER_TYPE, "payload": OFFER})
            assert refused.status_code == 503
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json() == {"errors": [{"path": None, "message": BLOCKED}]}
            assert ready.headers["Retry-After"] == "5"
            assert "bloodbank_broker_blocked 1.0" in client.get("/metrics").text
        for _ in range(500):  # the broker unblocks the connection shortly after the alarm clears
            if client.get("/health/ready").status_code == 200:
                break
            time.sleep(0.02)
        assert client.get("/health/ready").json() == {"status": "ready", "transport": "rabbitmq"}
        assert "bloodbank_broker_blocked 0.0" in client.get("/metrics").text
        assert client.post("/events", json={"event_type": OFFER_TYPE, "payload": OFFER}).status_code == 202
