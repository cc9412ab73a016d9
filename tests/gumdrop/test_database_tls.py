"""TLS to PostgreSQL: the settings' connect arguments, the clear-text refusal, and a private server with ssl=on.

The private server (``initdb`` and ``pg_ctl`` of the installed PostgreSQL, run as the
``postgres`` user) accepts TCP connections over TLS only (``hostssl`` in its pg_hba.conf),
with a certificate ``trustme`` issued for 127.0.0.1; it starts once for the module.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
import typer
from pydantic_settings import SettingsConfigDict
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from gumdrop.console import EXIT_INVALID, run_service
from gumdrop.database_tls import DatabaseTLSError, database_connect_args, driver_url, is_local_host, tls_mode
from gumdrop.settings import ServiceSettings
from gumdrop.sql_engine import create_engine
from gumdrop.store_errors import DatabaseUnavailable, ErrorTranslation, StoreError
from tests.conftest import unavailable

REMOTE = "postgresql+asyncpg://candystore:s3cret@db.example.com:5432/events"


class ExampleSettings(ServiceSettings):
    """A service's settings; a prefix no environment sets, so that only the test's values count."""

    model_config = SettingsConfigDict(env_prefix="TLSTEST_", extra="ignore")


def settings(url: str | None, **values: object) -> ExampleSettings:
    return ExampleSettings(database_url=url, **values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


# --- the settings, without a server ------------------------------------------------------


def test_a_password_in_clear_text_to_another_host_is_refused() -> None:
    """A remote URL with a password and no TLS is refused with the setting to change and the override."""
    with pytest.raises(DatabaseTLSError) as refused:
        _ = settings(REMOTE).connect_args
    assert str(refused.value) == (
        "TLSTEST_DATABASE_URL postgresql+asyncpg://candystore:***@db.example.com:5432/events would send the "
        "password in clear text to db.example.com: add ?ssl=verify-full (with TLSTEST_DATABASE_CA_FILE for a "
        "private CA), or set TLSTEST_CLEARTEXT_CREDENTIALS=true to allow it on a network you trust"
    )
    assert isinstance(refused.value, StoreError)


@pytest.mark.parametrize("mode", ["ssl=disable", "ssl=allow", "sslmode=prefer", "sslmode=PREFER"])
def test_modes_that_may_fall_back_to_clear_text_are_refused(mode: str) -> None:
    """disable, allow and prefer may send the password unencrypted: refused like no mode at all."""
    with pytest.raises(DatabaseTLSError, match=r"would send the password in clear text to db\.example\.com"):
        _ = settings(f"{REMOTE}?{mode}").connect_args


def test_every_host_of_a_multi_host_url_is_checked() -> None:
    """SQLAlchemy's ``?host=`` form: one remote host is enough to refuse."""
    url = "postgresql+asyncpg://u:p@/events?host=127.0.0.1:5432&host=db-2.example.com:5432"
    with pytest.raises(DatabaseTLSError, match=r"in clear text to db-2\.example\.com"):
        _ = settings(url).connect_args


@pytest.mark.parametrize(
    ("url", "values"),
    [
        (f"{REMOTE}?ssl=require", {}),
        (f"{REMOTE}?sslmode=verify-full", {}),
        (REMOTE, {"cleartext_credentials": True}),
        ("postgresql+asyncpg://postgres@db.example.com/events", {}),  # no password to give away
        ("postgresql+asyncpg://u:p@localhost/events", {}),
        ("postgresql+asyncpg://u:p@127.0.0.1:5432/events", {}),
        ("postgresql+asyncpg://u:p@[::1]:5432/events", {}),
        ("postgresql+asyncpg://u:p@/events?host=/var/run/postgresql", {}),
        (None, {}),  # SQLite
    ],
)
def test_tls_local_hosts_and_the_override_are_accepted(url: str | None, values: dict[str, object]) -> None:
    """TLS (require and stronger), this machine, no password, or the override: no refusal, no extra arguments."""
    assert settings(url, **values).connect_args == {}


def test_a_ca_file_gives_a_context_that_verifies_chain_and_name(ca_file: Path) -> None:
    """With the CA file the driver gets a context trusting that CA only, checking the host name (verify-full)."""
    args = settings(REMOTE, database_ca_file=ca_file, database_schema="events").connect_args
    context = args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1
    assert args["server_settings"] == {"search_path": "events"}


def test_verify_ca_with_a_ca_file_skips_the_name_only(ca_file: Path) -> None:
    """ssl=verify-ca keeps the chain check and drops the host name check."""
    context = settings(f"{REMOTE}?ssl=verify-ca", database_ca_file=ca_file).connect_args["ssl"]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert not context.check_hostname


def test_contradicting_settings_are_refused(ca_file: Path, tmp_path: Path) -> None:
    """A CA file with ssl=disable, or on SQLite, or one that cannot be read: each says which setting is wrong."""
    with pytest.raises(DatabaseTLSError) as disabled:
        _ = settings(f"{REMOTE}?ssl=disable", database_ca_file=ca_file).connect_args
    assert str(disabled.value) == (
        "TLSTEST_DATABASE_CA_FILE is set but TLSTEST_DATABASE_URL says ssl=disable: drop one of them"
    )
    with pytest.raises(DatabaseTLSError) as sqlite:
        _ = settings(None, database_ca_file=ca_file).connect_args
    assert str(sqlite.value) == (
        "TLSTEST_DATABASE_CA_FILE is set but TLSTEST_DATABASE_URL is not a PostgreSQL URL: unset it"
    )
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(DatabaseTLSError) as unreadable:
        _ = settings(REMOTE, database_ca_file=missing).connect_args
    assert str(unreadable.value) == f"TLSTEST_DATABASE_CA_FILE: {missing} does not exist"


def test_a_mode_is_read_from_ssl_or_sslmode() -> None:
    """Both names are read; an unknown mode or two different ones are refused."""
    assert tls_mode(make_url(f"{REMOTE}?sslmode=Verify-Full")) == "verify-full"
    assert tls_mode(make_url(f"{REMOTE}?ssl=require")) == "require"
    assert tls_mode(make_url(REMOTE)) is None
    with pytest.raises(DatabaseTLSError, match="'true' is not one of disable, allow, prefer, require"):
        tls_mode(make_url(f"{REMOTE}?ssl=true"))
    with pytest.raises(DatabaseTLSError, match="asks for TLS modes disable, require: keep one"):
        tls_mode(make_url(f"{REMOTE}?ssl=require&sslmode=disable"))


def test_libpq_sslmode_reaches_asyncpg_as_ssl() -> None:
    """asyncpg has no sslmode argument: the engine hands it the mode as ssl, other drivers' URLs stay as they are."""
    engine = create_engine(f"{REMOTE}?sslmode=verify-full")
    _, arguments = engine.dialect.create_connect_args(engine.url)
    assert arguments["ssl"] == "verify-full"
    assert "sslmode" not in arguments
    psycopg = make_url("postgresql+psycopg://u:p@db.example.com/events?sslmode=require")
    assert driver_url(psycopg) is psycopg


@pytest.mark.parametrize(
    ("host", "local"),
    [
        (None, True),
        ("localhost", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("/run/postgresql", True),
        ("db.localhost", False),
        ("10.0.0.5", False),
        ("db.example.com", False),
    ],
)
def test_local_hosts(host: str | None, local: bool) -> None:
    """This machine: no host, localhost, a loopback address, a socket's folder; nothing else."""
    assert is_local_host(host) is local


def test_a_refusal_ends_a_service_in_one_line_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A service whose store refuses its TLS settings stops with one line and exit code 1, not a traceback."""

    async def main() -> None:
        _ = settings(REMOTE).connect_args  # what opening the store does first

    with pytest.raises(typer.Exit) as stopped:
        run_service(main(), command="example serve")
    assert stopped.value.exit_code == EXIT_INVALID
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("example serve failed: TLSTEST_DATABASE_URL postgresql+asyncpg://candystore:***@")


def test_database_connect_args_leaves_other_databases_alone() -> None:
    """SQLite has no TLS: nothing to add, nothing to refuse."""
    assert database_connect_args("sqlite+aiosqlite:///x.db", ca_file=None, cleartext_credentials=False) == {}


# --- a private PostgreSQL with ssl=on ----------------------------------------------------


@dataclass(frozen=True)
class PrivatePostgres:
    port: int
    ca_file: Path
    other_ca_file: Path

    def url(self, host: str = "127.0.0.1", query: str = "") -> str:
        return f"postgresql+asyncpg://postgres@{host}:{self.port}/postgres{query}"


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*command: str | Path) -> None:
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, command)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{Path(str(command[0])).name} failed: {result.stderr.strip() or result.stdout.strip()}")


@pytest.fixture(scope="module")
def private_postgres(ca: trustme.CA) -> Iterator[PrivatePostgres]:
    """A server of the module's own on a free port: TLS on, TCP over TLS only, trust authentication."""
    binaries = _postgres_bin()
    if binaries is None:
        unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed under /usr/lib/postgresql")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        unavailable("starting a private PostgreSQL needs root (it runs as the postgres user)")
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="gumdrop-pg-tls-"))
    try:
        server = ca.issue_cert("127.0.0.1")
        server.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
        server.private_key_pem.write_to_path(str(root / "server.key"))
        (root / "server.key").chmod(0o600)  # PostgreSQL refuses a key others may read
        ca.cert_pem.write_to_path(str(root / "ca.pem"))
        trustme.CA().cert_pem.write_to_path(str(root / "other-ca.pem"))
        shutil.chown(root, "postgres")
        for name in ("server.crt", "server.key"):
            shutil.chown(root / name, "postgres")
        _as_postgres(binaries / "initdb", "-D", root / "data", "--auth=trust", "-U", "postgres", "--no-sync")
        (root / "data" / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )
        port = _free_port()
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c ssl=on -c fsync=off "
            f"-c ssl_cert_file={root / 'server.crt'} -c ssl_key_file={root / 'server.key'}"
        )
        _as_postgres(
            binaries / "pg_ctl", "-D", root / "data", "-l", root / "log.txt", "-w", "-t", "30", "-o", options, "start"
        )
        try:
            yield PrivatePostgres(port, root / "ca.pem", root / "other-ca.pem")
        finally:
            _as_postgres(binaries / "pg_ctl", "-D", root / "data", "-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _encrypted(url: str, **values: object) -> bool:
    """Whether a connection opened as a store opens one (the settings' connect arguments, gumdrop's engine) is TLS."""
    configured = settings(url, **values)
    engine = create_engine(configured.sqlalchemy_url, connect_args=configured.connect_args)
    try:
        async with engine.connect() as connection:
            query = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return bool((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_the_ca_file_connects_over_verified_tls(private_postgres: PrivatePostgres) -> None:
    """With the server's CA as the CA file, the store's connection is encrypted."""
    assert await _encrypted(private_postgres.url(), database_ca_file=private_postgres.ca_file)


@pytest.mark.postgres
async def test_a_server_certificate_from_another_ca_is_refused(private_postgres: PrivatePostgres) -> None:
    """A CA file that did not issue the server's certificate stops the connection in the handshake."""
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        await _encrypted(private_postgres.url(), database_ca_file=private_postgres.other_ca_file)
    translated = ErrorTranslation(tables="the tables", remedy="migrate")(refused.value)  # what a store raises
    assert isinstance(translated, DatabaseUnavailable)
    assert str(translated).startswith(
        "the database is unavailable: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "unable to get local issuer certificate"
    )


@pytest.mark.postgres
async def test_the_ca_file_checks_the_host_name_unless_verify_ca(private_postgres: PrivatePostgres) -> None:
    """The certificate names 127.0.0.1: "localhost" fails the name check (verify-full), passes with verify-ca."""
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await _encrypted(private_postgres.url("localhost"), database_ca_file=private_postgres.ca_file)
    assert await _encrypted(
        private_postgres.url("localhost", "?ssl=verify-ca"), database_ca_file=private_postgres.ca_file
    )


@pytest.mark.postgres
async def test_libpq_sslmode_in_the_url_turns_tls_on(private_postgres: PrivatePostgres) -> None:
    """?sslmode=require (libpq's name) reaches asyncpg and encrypts; the server accepts nothing else on TCP."""
    assert await _encrypted(private_postgres.url(query="?sslmode=require"))
    with pytest.raises(DBAPIError, match=r"no pg_hba\.conf entry for .* no encryption"):
        await _encrypted(private_postgres.url(query="?ssl=disable"))
