"""Bloodbank's settings, read from ``BLOODBANK_*`` environment variables when the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bloodbank.signing import parse_signing_keys

__all__ = ["BloodbankSettings"]


class BloodbankSettings(BaseSettings):
    """Everything Bloodbank reads from its environment. Built in the app factory, never at import time."""

    model_config = SettingsConfigDict(env_prefix="BLOODBANK_", extra="ignore", hide_input_in_errors=True)

    broker_url: str | None = Field(default=None, description="amqp://… for RabbitMQ; unset for the embedded broker")
    broker_ca_file: Path | None = Field(
        default=None, description="amqps://: the CA bundle the broker's certificate must chain to"
    )
    broker_cert_file: Path | None = Field(default=None, description="amqps://: this client's certificate (mutual TLS)")
    broker_key_file: Path | None = Field(default=None, description="amqps://: the private key of broker_cert_file")
    broker_server_name: str | None = Field(
        default=None, description="amqps://: the name the broker's certificate must carry; unset: the URL's host"
    )
    cleartext_credentials: bool = Field(
        default=False, description="allow amqp:// (no TLS) with a password to a host that is not this machine"
    )
    redis_url: str | None = Field(default=None, description="redis://… for idempotency and correlation; unset: local")
    redis_prefix: str = Field(default="bloodbank:", description="prefix of every Redis key Bloodbank writes")
    data_dir: Path = Field(default=Path(".33god"), description="where the embedded broker and local stores live")
    signing_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated id:secret; the first signs every message, all verify; empty: messages unsigned",
    )
    accept_unsigned: bool = Field(
        default=False, description="with signing keys set, still handle messages that carry no signature (migration)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8684", "http://localhost:8684"],
        description="comma-separated origins whose pages may call the gateway (the Candybar UI's by default)",
    )
    source_app: str = "bloodbank"
    publish_timeout: float = Field(default=30.0, gt=0, description="seconds a publish may retry across reconnects")
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_batch: int = Field(default=1000, gt=0)
    publish_window: int = Field(default=256, gt=0, description="unconfirmed messages in flight in a batch")
    fast_publish: bool = Field(
        default=True,
        description="RabbitMQ: write a loop turn's publishes in one socket write through aiormq's internals when "
        "they are as expected (checked at start); false: aiormq's basic_publish for each message",
    )
    accept_legacy: bool = Field(default=False, description="let the gateway upgrade legacy envelopes")
    idempotency_ttl: int = Field(default=7 * 24 * 3600, gt=0, description="seconds a handled event id is remembered")
    correlation_ttl: int = Field(default=24 * 3600, gt=0, description="seconds causation links are kept")
    watch_consumers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["candystore.events", "visibility.detector"],
        description="comma-separated consumers whose queues (and retry tiers) the gateway reports on /metrics",
    )
    watch_seconds: float = Field(default=5.0, gt=0, description="seconds between two readings of the queues")

    @field_validator("signing_keys", "cors_origins", "watch_consumers", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("signing_keys")
    @classmethod
    def _signing_keys_parse(cls, value: list[str]) -> list[str]:
        # At start, in one clear line: a key that fails later would dead-letter every message instead.
        parse_signing_keys(value)
        return value

    @property
    def embedded_path(self) -> Path:
        return self.data_dir / "bloodbank.sqlite3"
