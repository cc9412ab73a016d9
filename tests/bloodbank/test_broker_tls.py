"""RabbitMQ over ``amqps://``: private nodes with TLS listeners, certificates made by ``trustme`` for the module.

Two nodes start together, once for the module: one whose certificate names only
``broker.test`` (so connecting to 127.0.0.1 needs ``BLOODBANK_BROKER_SERVER_NAME``), and one
that names 127.0.0.1 and demands a client certificate (mutual TLS).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from structlog.testing import capture_logs

from bloodbank import BloodbankSettings, Bus, Event, create_transport
from bloodbank.errors import BrokerUnavailable
from bloodbank.transport.rabbitmq import RabbitMQTransport
from holyfields import default_catalog
from tests.bloodbank.private_broker import BrokerTLS, PrivateRabbitMQ
from tests.bloodbank.waiting import eventually
from tests.conftest import unavailable

pytestmark = pytest.mark.rabbitmq

EVENT_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(EVENT_TYPE).examples[0]  # type: ignore[union-attr]
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA of both nodes, another CA, and a client certificate the first CA issued."""

    ca: Path
    other_ca: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class TLSNodes:
    named: PrivateRabbitMQ  # certificate for broker.test only; no client certificate asked
    mutual: PrivateRabbitMQ  # certificate for 127.0.0.1; a client certificate is required

    @staticmethod
    def url(node: PrivateRabbitMQ) -> str:
        assert node.tls_url is not None
        return node.tls_url


def _write(folder: Path, name: str, blob: trustme.Blob) -> Path:
    path = folder / name
    blob.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def tls_root() -> Iterator[Path]:
    if os.geteuid() != 0:
        unavailable("starting a private RabbitMQ node needs root (it runs as the rabbitmq user)")
    if shutil.which("rabbitmq-server") is None:
        unavailable("rabbitmq-server is not installed: the TLS tests start private nodes")
    # Not tmp_path: pytest's folders are private to root, and the nodes run as the rabbitmq user.
    root = Path(tempfile.mkdtemp(prefix="bloodbank-tls-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_nodes(tls_root: Path) -> Iterator[tuple[TLSNodes, Certificates]]:
    """Both nodes, started in parallel (a node takes seconds to start), stopped after the module."""
    certs = tls_root / "certs"
    certs.mkdir()
    ca, other_ca = trustme.CA(), trustme.CA()
    named = ca.issue_cert("broker.test")
    by_address = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("bloodbank-client.test")
    certificates = Certificates(
        ca=_write(certs, "ca.pem", ca.cert_pem),
        other_ca=_write(certs, "other-ca.pem", other_ca.cert_pem),
        client_cert=_write(certs, "client.pem", client.cert_chain_pems[0]),
        client_key=_write(certs, "client.key", client.private_key_pem),
    )
    nodes = TLSNodes(
        named=PrivateRabbitMQ(
            tls_root / "named",
            tls=BrokerTLS(
                cert_file=_write(certs, "named.pem", named.cert_chain_pems[0]),
                key_file=_write(certs, "named.key", named.private_key_pem),
                ca_file=certificates.ca,
            ),
        ),
        mutual=PrivateRabbitMQ(
            tls_root / "mutual",
            tls=BrokerTLS(
                cert_file=_write(certs, "address.pem", by_address.cert_chain_pems[0]),
                key_file=_write(certs, "address.key", by_address.private_key_pem),
                ca_file=certificates.ca,
                require_client_certificate=True,
            ),
        ),
    )
    failures: list[BaseException] = []

    def start(node: PrivateRabbitMQ) -> None:
        try:
            node.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(node,)) for node in (nodes.named, nodes.mutual)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if failures:
            raise failures[0]
        yield nodes, certificates
    finally:
        nodes.named.stop()
        nodes.mutual.stop()


def settings_for(url: str, tmp_path: Path, **tls: object) -> BloodbankSettings:
    return BloodbankSettings(broker_url=url, data_dir=tmp_path, publish_timeout=10, **tls)  # type: ignore[arg-type]


async def round_trip(settings: BloodbankSettings) -> list[str]:
    """Publish one event through a bus started from ``settings`` and consume it; the log lines of the publisher."""
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    with capture_logs() as logs:
        bus = await Bus.start(settings)
        try:
            await bus.subscribe("tls.check", [EVENT_TYPE], handle)
            event_id = await bus.publish(EVENT_TYPE, OFFER)
            await eventually(lambda: handled == [event_id])
        finally:
            await bus.close(timeout=5)
    return [str(entry.get("path")) for entry in logs if "path" in entry]


async def refusal(settings: BloodbankSettings) -> str:
    """The message of the connection refused with ``settings``, checked to come well within the connect timeout."""
    transport = create_transport(settings)
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailable) as refused:
            await transport.connect(timeout=CONNECT_TIMEOUT)
    finally:
        await transport.close()
    assert time.monotonic() - started < CONNECT_TIMEOUT / 2  # refused, not timed out
    assert not transport.connected
    return str(refused.value)


async def test_events_travel_over_tls_with_the_brokers_ca(
    tls_nodes: tuple[TLSNodes, Certificates], tmp_path: Path
) -> None:
    """A bus started on amqps:// with the broker's CA publishes and consumes, on the fast publish path."""
    nodes, certs = tls_nodes
    settings = settings_for(nodes.url(nodes.named), tmp_path, broker_ca_file=certs.ca, broker_server_name="broker.test")
    paths = await round_trip(settings)
    assert paths == ["fast"]


async def test_a_broker_certificate_from_another_ca_is_refused(
    tls_nodes: tuple[TLSNodes, Certificates], tmp_path: Path
) -> None:
    """A certificate that does not chain to BLOODBANK_BROKER_CA_FILE ends the connect at once, saying what to check."""
    nodes, certs = tls_nodes
    url = nodes.url(nodes.named)
    settings = settings_for(url, tmp_path, broker_ca_file=certs.other_ca, broker_server_name="broker.test")
    message = await refusal(settings)
    assert message == (
        f"cannot connect to RabbitMQ at {url.replace('guest@', '***@', 1)}: the broker's certificate did not "
        "verify (self-signed certificate in certificate chain): check BLOODBANK_BROKER_CA_FILE (the CA it chains "
        "to) and BLOODBANK_BROKER_SERVER_NAME (a name it carries; unset, the URL's host)"
    )


async def test_without_a_ca_file_the_system_store_is_used(tls_nodes: tuple[TLSNodes, Certificates]) -> None:
    """amqps:// without a CA file verifies against the system's CAs, even when the URL says no_verify_ssl=1."""
    nodes, _ = tls_nodes
    transport = RabbitMQTransport(nodes.url(nodes.named) + "?no_verify_ssl=1")
    try:
        with pytest.raises(BrokerUnavailable, match="the broker's certificate did not verify"):
            await transport.connect(timeout=CONNECT_TIMEOUT)
    finally:
        await transport.close()


async def test_the_server_name_is_the_name_the_certificate_must_carry(
    tls_nodes: tuple[TLSNodes, Certificates], tmp_path: Path
) -> None:
    """Connecting to 127.0.0.1 with a certificate for broker.test fails, and works with that server name set."""
    nodes, certs = tls_nodes
    url = nodes.url(nodes.named)
    message = await refusal(settings_for(url, tmp_path, broker_ca_file=certs.ca))
    assert "(IP address mismatch, certificate is not valid for '127.0.0.1')" in message
    named = create_transport(settings_for(url, tmp_path, broker_ca_file=certs.ca, broker_server_name="broker.test"))
    try:
        await named.connect(timeout=CONNECT_TIMEOUT)
        assert named.connected
    finally:
        await named.close()


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    tls_nodes: tuple[TLSNodes, Certificates], tmp_path: Path
) -> None:
    """A broker that requires a client certificate refuses a client without one, naming the settings to check.

    With TLS 1.3 the refusal comes after the client's handshake: as an alert, or as a reset when
    the client wrote its AMQP header first. Either way the message points at the client certificate.
    """
    nodes, certs = tls_nodes
    message = await refusal(settings_for(nodes.url(nodes.mutual), tmp_path, broker_ca_file=certs.ca))
    assert message.endswith("check BLOODBANK_BROKER_CERT_FILE and BLOODBANK_BROKER_KEY_FILE")
    assert (
        "the broker refused the TLS handshake (TLSV13_ALERT_CERTIFICATE_REQUIRED)" in message
        or "the broker closed the connection after the TLS handshake" in message
    )


async def test_mutual_tls_accepts_a_client_certificate_from_its_ca(
    tls_nodes: tuple[TLSNodes, Certificates], tmp_path: Path
) -> None:
    """With a client certificate the broker's CA issued, events travel; the URL's host (an address) is verified."""
    nodes, certs = tls_nodes
    settings = settings_for(
        nodes.url(nodes.mutual),
        tmp_path,
        broker_ca_file=certs.ca,
        broker_cert_file=certs.client_cert,
        broker_key_file=certs.client_key,
    )
    assert await round_trip(settings) == ["fast"]
