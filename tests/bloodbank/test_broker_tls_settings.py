"""The broker's TLS settings, checked before connecting: the SSL context built, the clear-text password refused."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiormq.exceptions
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from bloodbank import BloodbankSettings, create_transport
from bloodbank.errors import BloodbankError
from bloodbank.transport.rabbitmq import RabbitMQTransport
from bloodbank.transport.rabbitmq.tls import BrokerTLSError, broker_ssl_context, handshake_problem


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def rabbitmq(url: str, tmp_path: Path, **options: object) -> RabbitMQTransport:
    transport = create_transport(BloodbankSettings(broker_url=url, data_dir=tmp_path, **options))  # type: ignore[arg-type]
    assert isinstance(transport, RabbitMQTransport)
    return transport


def test_a_password_in_clear_text_to_another_host_is_refused(tmp_path: Path) -> None:
    """amqp:// with a password to a remote host stops at transport creation, naming the URL and the override."""
    with pytest.raises(BrokerTLSError) as refused:
        rabbitmq("amqp://bloodbank:s3cret@rabbit.example.com:5672/prod", tmp_path)
    assert str(refused.value) == (
        "BLOODBANK_BROKER_URL amqp://bloodbank:***@rabbit.example.com:5672/prod would send the password in clear "
        "text to rabbit.example.com: use amqps:// (see BLOODBANK_BROKER_CA_FILE), or set "
        "BLOODBANK_CLEARTEXT_CREDENTIALS=true to allow it on a network you trust"
    )
    assert "s3cret" not in str(refused.value)
    assert isinstance(refused.value, BloodbankError)


def test_a_name_under_localhost_is_not_taken_for_this_machine(tmp_path: Path) -> None:
    """``*.localhost`` may be resolved through DNS: only ``localhost`` and loopback addresses count as local."""
    with pytest.raises(BrokerTLSError, match=r"in clear text to rabbit\.localhost"):
        rabbitmq("amqp://u:p@rabbit.localhost/", tmp_path)


def test_every_node_of_a_comma_separated_url_is_checked(tmp_path: Path) -> None:
    """A second node in clear text to a remote host is refused like the first would be."""
    with pytest.raises(BrokerTLSError, match=r"in clear text to rabbit-2\.example\.com"):
        rabbitmq("amqps://u:p@rabbit-1.example.com/,amqp://u:p@rabbit-2.example.com/", tmp_path)


def test_cleartext_credentials_allows_it(tmp_path: Path) -> None:
    """BLOODBANK_CLEARTEXT_CREDENTIALS=true lets the clear-text URL through, without TLS."""
    transport = rabbitmq("amqp://bloodbank:s3cret@rabbit.example.com/", tmp_path, cleartext_credentials=True)
    assert transport.ssl_context is None


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@localhost:5672/",
        "amqp://guest:guest@127.0.0.1/",
        "amqp://guest:guest@127.0.0.53/",
        "amqp://guest:guest@[::1]:5672/",
        "amqp://rabbit.example.com/",  # no password: aiormq's default guest, which no secret is
        "amqps://bloodbank:s3cret@rabbit.example.com/",
    ],
)
def test_local_hosts_tls_and_urls_without_password_are_accepted(url: str, tmp_path: Path) -> None:
    """Clear text is fine to this machine or without a password; amqps:// is always fine."""
    assert rabbitmq(url, tmp_path).url == url


def test_tls_settings_with_an_amqp_url_are_refused(ca_file: Path, tmp_path: Path) -> None:
    """A CA file or server name set for amqp:// would be ignored: the transport refuses instead."""
    with pytest.raises(BrokerTLSError) as refused:
        rabbitmq("amqp://guest:guest@localhost/", tmp_path, broker_ca_file=ca_file, broker_server_name="b.test")
    assert str(refused.value) == (
        "BLOODBANK_BROKER_CA_FILE, BLOODBANK_BROKER_SERVER_NAME are set but BLOODBANK_BROKER_URL is not amqps://: "
        "write the URL as amqps://HOST:5671/ to connect over TLS, or unset them"
    )


def test_an_amqps_url_gets_a_verifying_context_from_the_settings(ca_file: Path, tmp_path: Path) -> None:
    """The context verifies the chain against the CA file only, and the broker's name."""
    transport = rabbitmq("amqps://u:p@rabbit.example.com/", tmp_path, broker_ca_file=ca_file)
    context = transport.ssl_context
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.cert_store_stats()["x509_ca"] == 1


def test_an_amqps_transport_without_a_context_verifies_against_the_system() -> None:
    """Built by hand with no context, an amqps:// transport still verifies (aiormq's no_verify_ssl is not read)."""
    context = RabbitMQTransport("amqps://u:p@rabbit.example.com/?no_verify_ssl=1").ssl_context
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert RabbitMQTransport("amqp://guest:guest@localhost/").ssl_context is None


def test_a_client_certificate_is_loaded_for_mutual_tls(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    """Certificate and key both given: the context presents them (a wrong pair would not load)."""
    client = ca.issue_cert("client.test")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    broker_ssl_context(ca_file=ca_file, cert_file=cert, key_file=key)
    other_key = tmp_path / "other.key"
    ca.issue_cert("other.test").private_key_pem.write_to_path(str(other_key))
    with pytest.raises(BrokerTLSError, match="is not a usable PEM file"):
        broker_ssl_context(ca_file=ca_file, cert_file=cert, key_file=other_key)


def test_an_encrypted_key_is_refused_rather_than_asked_for(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    """A key with a passphrase would make OpenSSL prompt on the terminal: it is refused, saying why."""
    client = ca.issue_cert("client.test")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    key.write_bytes(
        serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(BrokerTLSError) as refused:
        broker_ssl_context(ca_file=ca_file, cert_file=cert, key_file=key)
    assert str(refused.value) == (
        f"BLOODBANK_BROKER_KEY_FILE: {key} is encrypted; give the key without a passphrase, readable by this "
        "service only"
    )


def test_a_certificate_without_its_key_is_refused(ca_file: Path) -> None:
    """Mutual TLS needs both files; one alone is a setting forgotten, said as such."""
    with pytest.raises(BrokerTLSError) as refused:
        broker_ssl_context(ca_file=ca_file, cert_file=ca_file)
    assert str(refused.value) == (
        "BLOODBANK_BROKER_CERT_FILE is set but BLOODBANK_BROKER_KEY_FILE is not: mutual TLS needs the certificate "
        "and its key"
    )


def test_a_missing_or_unusable_ca_file_names_the_setting(tmp_path: Path) -> None:
    """A CA file that does not exist, or is not PEM, is refused before any connection."""
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(BrokerTLSError) as refused:
        broker_ssl_context(ca_file=missing)
    assert str(refused.value) == f"BLOODBANK_BROKER_CA_FILE: {missing} does not exist"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(BrokerTLSError, match=r"^BLOODBANK_BROKER_CA_FILE: .*garbage\.pem is not a usable PEM file"):
        broker_ssl_context(ca_file=garbage)


def test_the_server_name_replaces_the_urls_host_in_the_handshake(ca_file: Path) -> None:
    """The name asked for in the handshake (SNI, and the certificate check) is the server name, not the host."""
    context = broker_ssl_context(ca_file=ca_file, server_name="broker.test")
    asked = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="127.0.0.1")
    assert asked.server_hostname == "broker.test"
    plain = broker_ssl_context(ca_file=ca_file).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="h.test")
    assert plain.server_hostname == "h.test"


def test_handshake_problem_is_none_for_other_failures() -> None:
    """A refused TCP connection is not a TLS problem: the message stays the broker's."""
    assert handshake_problem(ConnectionRefusedError(111, "Connection refused")) is None


def test_a_reset_after_the_handshake_points_at_the_client_certificate() -> None:
    """TLS 1.3: a broker refusing the client's certificate may just reset the connection; that is said."""
    reset = ConnectionResetError(104, "Connection reset by peer")
    failure = aiormq.exceptions.AMQPConnectionError(f"Server connection reset: {reset!r}")
    failure.__cause__ = reset  # as aiormq raises it: `from` the socket's error
    assert handshake_problem(failure) == (
        "the broker closed the connection after the TLS handshake (Server connection reset: "
        "ConnectionResetError(104, 'Connection reset by peer')); a broker that requires client certificates does so "
        "to a client without one, or with one its CA did not issue: check BLOODBANK_BROKER_CERT_FILE and "
        "BLOODBANK_BROKER_KEY_FILE"
    )
