"""TLS to PostgreSQL: the URL's ``ssl`` (or libpq's ``sslmode``), the CA file, and no password in clear text.

TLS is asked for in the URL, as asyncpg names it (``?ssl=verify-full``) or as libpq does
(``?sslmode=verify-full``, renamed for asyncpg by :func:`driver_url`). A CA file
(``*_DATABASE_CA_FILE``) adds an SSL context that verifies the server against that CA and by
name (``verify-ca`` in the URL drops the name check). A password sent without TLS (no mode,
or ``disable``, ``allow``, ``prefer``) to a host other than this machine is refused unless
``*_CLEARTEXT_CREDENTIALS`` allows it.

Exceptions::

    StoreError
    └── DatabaseTLSError (also ValueError)   the TLS settings cannot be used, or the URL would send a
                                             password in clear text; raised before any connection is made
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any

from sqlalchemy import URL, make_url

from gumdrop.store_errors import StoreError
from gumdrop.unavailable import SettingRefused

__all__ = [
    "CLEARTEXT_MODES",
    "TLS_MODES",
    "DatabaseTLSError",
    "database_connect_args",
    "database_ssl_context",
    "driver_url",
    "is_local_host",
    "tls_mode",
]

TLS_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""The values of ``ssl``/``sslmode``, weakest first (libpq's, which asyncpg takes too)."""

CLEARTEXT_MODES = frozenset({None, "disable", "allow", "prefer"})
"""Modes that may send the password without TLS: ``allow`` and ``prefer`` fall back to clear text."""


class DatabaseTLSError(StoreError, SettingRefused):
    """The database's TLS settings cannot be used, or would send a password in clear text; ``str()`` says which."""


def is_local_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: no host, ``localhost``, a loopback address, or a socket's folder.

    Names under ``.localhost`` are not: a resolver may send them to DNS, which may answer anything.
    """
    if not host or host.startswith("/"):
        return True  # the driver's default (a local socket), or a socket's folder
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tls_mode(url: URL) -> str | None:
    """The URL's TLS mode, lower case: its ``ssl`` or ``sslmode`` parameter, or ``None`` when it has neither.

    Raises :class:`DatabaseTLSError` for an unknown mode, or two that differ.
    """
    modes = {str(value).lower() for name in ("ssl", "sslmode") for value in _values(url, name)}
    if len(modes) > 1:
        raise DatabaseTLSError(f"the database URL asks for TLS modes {', '.join(sorted(modes))}: keep one")
    if not modes:
        return None
    mode = modes.pop()
    if mode not in TLS_MODES:
        raise DatabaseTLSError(f"the database URL's TLS mode {mode!r} is not one of {', '.join(TLS_MODES)}")
    return mode


def driver_url(url: URL) -> URL:
    """``url`` as asyncpg takes it: libpq's ``sslmode`` becomes ``ssl`` (asyncpg has no ``sslmode`` argument)."""
    if url.get_driver_name() != "asyncpg" or "sslmode" not in url.query:
        return url
    mode = tls_mode(url)
    return url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode or ""})


def database_ssl_context(
    ca_file: Path, *, check_hostname: bool = True, setting: str = "DATABASE_CA_FILE"
) -> ssl.SSLContext:
    """A client context that trusts only ``ca_file`` and, with ``check_hostname``, wants the URL's host in the
    server's certificate.

    ``setting`` names the setting in the error raised when the file cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain (and the name) by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError as exc:
        raise DatabaseTLSError(f"{setting}: {ca_file} does not exist") from exc
    except PermissionError as exc:
        raise DatabaseTLSError(f"{setting}: {ca_file} is not readable by this process") from exc
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise DatabaseTLSError(f"{setting}: {ca_file} is not a usable PEM file of CA certificates ({exc})") from exc
    return context


def database_connect_args(
    url: str, *, ca_file: Path | None, cleartext_credentials: bool, prefix: str = ""
) -> dict[str, Any]:
    """The driver's TLS arguments for ``url``: ``{"ssl": context}`` with a CA file, else none (the URL says it).

    ``prefix`` is the settings' (``CANDYSTORE_``), for the messages. Raises
    :class:`DatabaseTLSError` for a CA file on SQLite or with ``ssl=disable``, an unusable
    file, or a password in clear text to another machine unless ``cleartext_credentials``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        if ca_file is not None:
            raise DatabaseTLSError(
                f"{prefix}DATABASE_CA_FILE is set but {prefix}DATABASE_URL is not a PostgreSQL URL: unset it"
            )
        return {}
    mode = tls_mode(parsed)
    if ca_file is not None:
        if mode == "disable":
            raise DatabaseTLSError(
                f"{prefix}DATABASE_CA_FILE is set but {prefix}DATABASE_URL says ssl=disable: drop one of them"
            )
        context = database_ssl_context(ca_file, check_hostname=mode != "verify-ca", setting=f"{prefix}DATABASE_CA_FILE")
        return {"ssl": context}
    if mode in CLEARTEXT_MODES and parsed.password and not cleartext_credentials:
        remote = next((host for host in _hosts(parsed) if not is_local_host(host)), None)
        if remote is not None:
            raise DatabaseTLSError(
                f"{prefix}DATABASE_URL {parsed.render_as_string(hide_password=True)} would send the password in "
                f"clear text to {remote}: add ?ssl=verify-full (with {prefix}DATABASE_CA_FILE for a private CA), "
                f"or set {prefix}CLEARTEXT_CREDENTIALS=true to allow it on a network you trust"
            )
    return {}


def _values(url: URL, name: str) -> tuple[str, ...]:
    value = url.query.get(name)
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _hosts(url: URL) -> list[str | None]:
    """Every host ``url`` may connect to: its own, and those of ``?host=`` (SQLAlchemy's multi-host form)."""
    return [url.host, *(_host_of(entry) for entry in _values(url, "host"))]


def _host_of(entry: str) -> str:
    """``db:5432`` → ``db``, ``[::1]:5432`` → ``::1``; a socket's folder or a bare address as it is."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry
