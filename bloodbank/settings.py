"""Bloodbank's settings, read from ``BLOODBANK_*`` environment variables when the service starts."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bloodbank.signing import parse_signing_keys

__all__ = ["BloodbankSettings"]

_MIN_WEBHOOK_SECRET_BYTES = 16
_MAKE_ONE = "e.g. whsec_$(openssl rand -base64 32)"


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
    management_url: str | None = Field(
        default=None,
        description="RabbitMQ's management HTTP API (http://host:15672), read for unacknowledged counts and rates "
        "of the queues; without credentials of its own it uses the broker URL's; unset: passive declarations",
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
    github_webhook_secret: SecretStr | None = Field(
        default=None,
        description="the secret of the GitHub webhooks that POST /webhooks/github verifies (X-Hub-Signature-256); "
        "unset: that intake is off",
    )
    n8n_webhook_secret: SecretStr | None = Field(
        default=None,
        description="the Standard Webhooks secret (whsec_ and base64) n8n signs POST /webhooks/n8n with; "
        "unset: that intake is off",
    )

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

    @field_validator("github_webhook_secret")
    @classmethod
    def _github_secret_given(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError(
                "is empty: set the secret of the GitHub webhook, or unset the variable to turn that intake off"
            )
        return value

    @field_validator("n8n_webhook_secret")
    @classmethod
    def _n8n_secret_decodes(cls, value: SecretStr | None) -> SecretStr | None:
        # At start, in one clear line: the signing library skips what is not base64, so a mistyped secret would
        # start and then refuse every request.
        if value is not None:
            _check_standard_webhooks_secret(value.get_secret_value())
        return value

    @property
    def embedded_path(self) -> Path:
        return self.data_dir / "bloodbank.sqlite3"


def _check_standard_webhooks_secret(secret: str) -> None:
    """Refuse a secret that is not ``whsec_`` and base64 of enough random bytes, without quoting it."""
    text = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            f"is not a Standard Webhooks secret: expected whsec_ followed by base64 ({_MAKE_ONE})"
        ) from exc
    if len(key) < _MIN_WEBHOOK_SECRET_BYTES:
        raise ValueError(
            f"decodes to {len(key)} bytes: a secret needs at least {_MIN_WEBHOOK_SECRET_BYTES} random bytes "
            f"({_MAKE_ONE})"
        )
