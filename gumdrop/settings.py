"""What every service reads from its environment alike: where its database is, its origins, its body limit.

A component's settings class derives from :class:`ServiceSettings` and adds its own prefix
(``CANDYSTORE_``, ``VISIBILITY_``), port and tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gumdrop.principals import KeyRing

__all__ = ["DEFAULT_UI_ORIGINS", "LOCAL_HOSTS", "AccessSettings", "CommaSeparated", "ServiceSettings", "split_commas"]

DEFAULT_UI_ORIGINS = ("http://127.0.0.1:8684", "http://localhost:8684")
"""The Candybar UI's origins: its pages call the APIs from the browser."""


def split_commas(value: object) -> object:
    """``"a, b,,c"`` as ``["a", "b", "c"]``; anything but a string as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]
"""A list given in the environment as one comma-separated value."""


class ServiceSettings(BaseSettings):
    """The database, the interface and the browser-facing limits of a service with an HTTP API."""

    database_url: str | None = Field(default=None, description="postgresql+asyncpg://…; unset: SQLite in data_dir")
    database_schema: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="PostgreSQL schema holding the service's tables (its search_path); unset: the server's default",
    )
    database_ca_file: Path | None = Field(
        default=None, description="PostgreSQL TLS: the CA bundle the server's certificate must chain to"
    )
    cleartext_credentials: bool = Field(
        default=False, description="allow a database password without TLS to a host that is not this machine"
    )
    data_dir: Path = Field(default=Path(".33god"), description="where the embedded SQLite database lives")
    host: str = "127.0.0.1"
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="bytes a request body may have at most")
    cors_origins: CommaSeparated = Field(
        default_factory=lambda: list(DEFAULT_UI_ORIGINS),
        description="comma-separated origins whose pages may call the API (the Candybar UI's by default)",
    )

    @property
    def sqlalchemy_url(self) -> str:
        """``database_url``, or the platform's embedded SQLite file (Candystore's) when it is unset."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'candystore.sqlite3'}"

    @property
    def connect_args(self) -> dict[str, Any]:
        """Driver connect arguments on PostgreSQL: the schema as search_path, the CA file's SSL context.

        Raises :class:`~gumdrop.database_tls.DatabaseTLSError` (a store error) when the TLS settings
        cannot be used, or when the URL would send a password in clear text to another machine
        and ``cleartext_credentials`` does not allow it (:mod:`gumdrop.database_tls`).
        """
        from gumdrop.database_tls import database_connect_args  # noqa: PLC0415 - SQLAlchemy loads when a store opens, not with the settings

        url = self.sqlalchemy_url
        args = database_connect_args(
            url,
            ca_file=self.database_ca_file,
            cleartext_credentials=self.cleartext_credentials,
            prefix=str(self.model_config.get("env_prefix", "")).upper(),
        )
        if self.database_schema and url.startswith("postgresql"):
            args["server_settings"] = {"search_path": self.database_schema}
        return args


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
"""The names of this machine: the allowed Host names unless ``PLATFORM_ALLOWED_HOSTS`` says otherwise."""


class AccessSettings(BaseSettings):
    """Who may call the platform's APIs and how often; read from ``PLATFORM_*`` by every service alike."""

    model_config = SettingsConfigDict(
        env_prefix="PLATFORM_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    keys_file: Path | None = Field(
        default=None, description="YAML file of clients: scopes, hashed keys, rates, webhook secrets"
    )
    api_keys: CommaSeparated = Field(
        default_factory=list,
        validation_alias=AliasChoices("BLOODBANK_API_KEYS", "api_keys"),
        description="comma-separated client:key pairs, each client with every scope (a quick start)",
    )
    allowed_hosts: CommaSeparated = Field(
        default_factory=lambda: list(LOCAL_HOSTS),
        description="comma-separated Host names the services answer to (`*.example.com` for subdomains, `*` any)",
    )
    rate_per_second: float = Field(default=2000.0, gt=0, description="tokens per second of a client's bucket per scope")
    rate_burst: int = Field(default=10_000, ge=1, description="the size of a client's bucket per scope")
    auth_failures_per_minute: int = Field(
        default=30, ge=1, description="failed authentications a source address may make per minute"
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BLOODBANK_REDIS_URL", "redis_url"),
        description="shares the rate limits of every process through Redis; unset: each process its own",
    )

    def key_ring(self) -> KeyRing:
        """The configured clients: the keys file and ``BLOODBANK_API_KEYS`` together; raises KeysFileError."""
        from_file = KeyRing.from_file(self.keys_file) if self.keys_file is not None else KeyRing()
        from_pairs = KeyRing.from_pairs(self.api_keys)
        return from_file.joined(from_pairs)
