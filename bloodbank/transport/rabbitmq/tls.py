"""TLS to RabbitMQ: the SSL context of an ``amqps://`` connection, and no password in clear text to another host.

:func:`broker_tls` checks the ``BLOODBANK_BROKER_*`` settings and builds the context with
:func:`broker_ssl_context`: the broker's certificate is always verified (against the CA
file, else the system's store) and must carry the broker's name
(``BLOODBANK_BROKER_SERVER_NAME``, else the URL's host); a client certificate and key make
it mutual TLS. :func:`refuse_cleartext_credentials` stops an ``amqp://`` URL with a password
to a host other than this machine before it connects.

Exceptions::

    BloodbankError
    └── BrokerTLSError (also ValueError)   the TLS settings cannot be used, or the URL would send a
                                           password in clear text; raised before any connection is made

A handshake that fails (a certificate that does not verify, a missing client certificate)
is the broker being unreachable, a :class:`~bloodbank.errors.BrokerUnavailable`, whose
message :func:`handshake_problem` completes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

from yarl import URL

from bloodbank.errors import BloodbankError
from bloodbank.settings import BloodbankSettings
from bloodbank.transport.rabbitmq.errors import broker_text
from gumdrop.database_tls import is_local_host
from gumdrop.unavailable import SettingRefused

__all__ = [
    "BrokerTLSError",
    "broker_ssl_context",
    "broker_tls",
    "handshake_problem",
    "refuse_cleartext_credentials",
]

_CLIENT_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN")
"""Alerts a broker sends when it wants a client certificate, or does not trust the one it got."""

_CHECK_CLIENT_CERTIFICATE = "check BLOODBANK_BROKER_CERT_FILE and BLOODBANK_BROKER_KEY_FILE"

_CLOSED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, EOFError, asyncio.IncompleteReadError)
"""How a connection the broker closed before its AMQP greeting shows (a refused one is not among them)."""


class BrokerTLSError(BloodbankError, SettingRefused):
    """The broker's TLS settings cannot be used, or would send a password in clear text; ``str()`` says which."""


class _ServerNameContext(ssl.SSLContext):
    """A client context that names the server ``server_name`` (SNI and the hostname check), whatever the URL's host.

    asyncio (which aiormq connects through) passes the URL's host to ``wrap_bio``; aio-pika
    offers no way to hand it another name, so the context substitutes its own.
    """

    server_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        name = self.server_name if self.server_name and not server_side else server_hostname
        return super().wrap_bio(incoming, outgoing, server_side=server_side, server_hostname=name, session=session)


def broker_tls(settings: BloodbankSettings) -> ssl.SSLContext | None:
    """The SSL context of ``settings.broker_url`` when it is ``amqps://``, else ``None``; checked before connecting.

    Raises :class:`BrokerTLSError` for a password in clear text to another machine (unless
    ``BLOODBANK_CLEARTEXT_CREDENTIALS``), TLS files set for an ``amqp://`` URL, or a file that
    cannot be used.
    """
    url = settings.broker_url or ""
    refuse_cleartext_credentials(url, allowed=settings.cleartext_credentials)
    files = {
        "BLOODBANK_BROKER_CA_FILE": settings.broker_ca_file,
        "BLOODBANK_BROKER_CERT_FILE": settings.broker_cert_file,
        "BLOODBANK_BROKER_KEY_FILE": settings.broker_key_file,
        "BLOODBANK_BROKER_SERVER_NAME": settings.broker_server_name,
    }
    if URL(url.split(",")[0].strip()).scheme != "amqps":
        given = [name for name, value in files.items() if value]
        if given:  # set for TLS, yet the connection would not use it: say so rather than ignore it
            raise BrokerTLSError(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set but BLOODBANK_BROKER_URL is not "
                "amqps://: write the URL as amqps://HOST:5671/ to connect over TLS, or unset them"
            )
        return None
    return broker_ssl_context(
        ca_file=settings.broker_ca_file,
        cert_file=settings.broker_cert_file,
        key_file=settings.broker_key_file,
        server_name=settings.broker_server_name,
    )


def broker_ssl_context(
    *,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    server_name: str | None = None,
) -> ssl.SSLContext:
    """A client context that verifies the broker: against ``ca_file`` (else the system's CAs), by name.

    ``cert_file`` and ``key_file`` (both or neither) are this client's certificate for mutual TLS.
    ``server_name`` is the name sent in SNI and required in the broker's certificate; unset,
    the URL's host. Raises :class:`BrokerTLSError` when a file cannot be read or used.
    """
    if (cert_file is None) != (key_file is None):
        given, missing = (
            ("BLOODBANK_BROKER_CERT_FILE", "BLOODBANK_BROKER_KEY_FILE")
            if key_file is None
            else ("BLOODBANK_BROKER_KEY_FILE", "BLOODBANK_BROKER_CERT_FILE")
        )
        raise BrokerTLSError(f"{given} is set but {missing} is not: mutual TLS needs the certificate and its key")
    context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.server_name = server_name or None
    if ca_file is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load("BLOODBANK_BROKER_CA_FILE", ca_file, lambda: context.load_verify_locations(cafile=ca_file))
    if cert_file is not None and key_file is not None:
        _load(
            "BLOODBANK_BROKER_CERT_FILE and BLOODBANK_BROKER_KEY_FILE",
            cert_file,
            lambda: context.load_cert_chain(cert_file, key_file, password=_encrypted_key(key_file)),
        )
    return context


def _encrypted_key(key_file: Path) -> Callable[[], str]:
    def refuse() -> str:  # else OpenSSL asks for the passphrase on the terminal, and a service waits forever
        raise BrokerTLSError(
            f"BLOODBANK_BROKER_KEY_FILE: {key_file} is encrypted; give the key without a passphrase, readable by "
            "this service only"
        )

    return refuse


def _load(setting: str, path: Path, load: Callable[[], None]) -> None:
    try:
        load()
    except BrokerTLSError:
        raise
    except FileNotFoundError as exc:
        raise BrokerTLSError(f"{setting}: {exc.filename or path} does not exist") from exc
    except PermissionError as exc:
        raise BrokerTLSError(f"{setting}: {exc.filename or path} is not readable by this process") from exc
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise BrokerTLSError(f"{setting}: {path} is not a usable PEM file ({exc})") from exc


def refuse_cleartext_credentials(url: str, *, allowed: bool) -> None:
    """Raise :class:`BrokerTLSError` when ``url`` sends a password without TLS to another machine, unless ``allowed``.

    ``url`` may list several nodes, comma-separated: each is checked.
    """
    if allowed:
        return
    for part in url.split(","):
        node = URL(part.strip())
        if node.scheme == "amqp" and node.password and not is_local_host(node.host):
            safe = node.with_password("***")
            raise BrokerTLSError(
                f"BLOODBANK_BROKER_URL {safe} would send the password in clear text to {node.host}: use amqps:// "
                "(see BLOODBANK_BROKER_CA_FILE), or set BLOODBANK_CLEARTEXT_CREDENTIALS=true to allow it on a "
                "network you trust"
            )


def handshake_problem(exc: BaseException) -> str | None:
    """What the failure of an ``amqps://`` connect behind ``exc`` means and which settings to check; ``None`` when it
    is not about TLS (the broker is down, say)."""
    chain = _chain(exc)
    for current in chain:
        if isinstance(current, ssl.SSLCertVerificationError):
            reason = (current.verify_message or current.reason or str(current)).rstrip(".")
            return (
                f"the broker's certificate did not verify ({reason}): check BLOODBANK_BROKER_CA_FILE (the CA it "
                "chains to) and BLOODBANK_BROKER_SERVER_NAME (a name it carries; unset, the URL's host)"
            )
        if isinstance(current, ssl.SSLError):
            reason = current.reason or str(current)
            if any(alert in reason for alert in _CLIENT_CERTIFICATE_ALERTS):
                return (
                    f"the broker refused the TLS handshake ({reason}): it wants a client certificate its CA "
                    f"issued; {_CHECK_CLIENT_CERTIFICATE}"
                )
            return f"the TLS handshake failed ({reason}): check that the broker listens for amqps:// on that port"
    if any(isinstance(current, _CLOSED) for current in chain):
        # TLS 1.3 finishes the client's handshake before the broker checks the client's certificate: its
        # refusal may arrive as an alert (above) or, when the client wrote first, as a reset.
        return (
            f"the broker closed the connection after the TLS handshake ({broker_text(exc)}); a broker that "
            f"requires client certificates does so to a client without one, or with one its CA did not issue: "
            f"{_CHECK_CLIENT_CERTIFICATE}"
        )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
