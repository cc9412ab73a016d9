"""What every service reads from its environment alike: where its database is, its origins, its body limit.

A component's settings class derives from :class:`ServiceSettings` and adds its own prefix
(``CANDYSTORE_``, ``VISIBILITY_``), port and tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode

__all__ = ["DEFAULT_UI_ORIGINS", "CommaSeparated", "ServiceSettings", "split_commas"]

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
        """Driver connect arguments: the schema as search_path on PostgreSQL."""
        if self.database_schema and self.sqlalchemy_url.startswith("postgresql"):
            return {"server_settings": {"search_path": self.database_schema}}
        return {}
