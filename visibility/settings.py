"""The visibility layer's settings, read from ``VISIBILITY_*`` environment variables when the service starts.

The database defaults to Candystore's: ``VISIBILITY_DATABASE_URL``, else
``CANDYSTORE_DATABASE_URL``, else the SQLite file Candystore uses under the data
directory; the tables are prefixed ``visibility_`` and migrated on their own. Its TLS
settings (CA file, clear-text consent) default to Candystore's the same way.
Alerting is off while ``VISIBILITY_SLACK_WEBHOOK_URL`` is unset: nothing is queued.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from gumdrop.settings import ServiceSettings

__all__ = ["VisibilitySettings"]

_DAY = 24 * 3600.0


class VisibilitySettings(ServiceSettings):
    """Everything the visibility layer reads from its environment. Built in the app factory, never at import time."""

    model_config = SettingsConfigDict(env_prefix="VISIBILITY_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("VISIBILITY_DATABASE_URL", "CANDYSTORE_DATABASE_URL", "database_url"),
        description="postgresql+asyncpg://…; unset: CANDYSTORE_DATABASE_URL, else SQLite in data_dir",
    )
    database_ca_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("VISIBILITY_DATABASE_CA_FILE", "CANDYSTORE_DATABASE_CA_FILE", "database_ca_file"),
        description="PostgreSQL TLS: the CA bundle the server's certificate must chain to; unset: Candystore's",
    )
    cleartext_credentials: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "VISIBILITY_CLEARTEXT_CREDENTIALS", "CANDYSTORE_CLEARTEXT_CREDENTIALS", "cleartext_credentials"
        ),
        description="allow a database password without TLS to a host that is not this machine; unset: Candystore's",
    )
    rules: Path | None = Field(default=None, description="the YAML rules file; unset: the shipped default rules")
    rules_check_interval: float = Field(
        default=2.0, gt=0, description="seconds between looks at the rules file for a change (applied without restart)"
    )
    port: int = Field(default=8685, gt=0, lt=65536)
    candybar_url: str = Field(
        default="http://127.0.0.1:8684",
        validation_alias=AliasChoices("VISIBILITY_CANDYBAR_URL", "CANDYBAR_URL", "candybar_url"),
        description="where the UI is, for the links in alerts",
    )

    # The detector
    batch_size: int = Field(default=500, gt=0, description="events whose writes share one transaction at most")
    batch_wait: float = Field(default=0.005, ge=0, description="seconds a transaction waits for more events")
    prefetch: int = Field(default=1000, gt=0, description="deliveries in hand at most")
    prune_interval: float = Field(default=60.0, gt=0, description="seconds between forgetting expired offers")

    # Lifecycle
    escalation_interval: float = Field(default=30.0, gt=0, description="seconds between checks for due escalations")
    publish_interval: float = Field(default=5.0, gt=0, description="seconds between retries of unpublished events")

    # Alerts
    slack_webhook_url: str | None = Field(default=None, description="Slack incoming webhook; unset: alerting is off")
    alert_group_window: float = Field(default=60.0, ge=0, description="seconds new conflicts of a rule are grouped")
    alert_spike_percent: float = Field(default=5.0, gt=0, description="conflict rate (%) that raises a spike alert")
    alert_spike_window: float = Field(default=300.0, gt=0, description="seconds the spike rate is measured over")
    alert_spike_min_events: int = Field(default=50, gt=0, description="events needed in the window to judge a spike")
    alert_interval: float = Field(default=1.0, gt=0, description="seconds between runs of the alert sender")
    alert_timeout: float = Field(default=10.0, gt=0, description="seconds a webhook call may take")
    alert_retry_base: float = Field(default=2.0, gt=0, description="seconds before the first retry, doubling")
    alert_retry_max: float = Field(default=300.0, gt=0, description="seconds between retries at most")

    # OKR
    okr_window: float = Field(default=7 * _DAY, gt=0, description="seconds the OKR figures look back")
    resolution_sla: float = Field(default=_DAY, gt=0, description="seconds within which a resolution counts")

    @field_validator("slack_webhook_url", "rules", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alert_retry_max")
    @classmethod
    def _retries_grow(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("alert_retry_base", 0):
            raise ValueError(f"must be at least VISIBILITY_ALERT_RETRY_BASE ({info.data['alert_retry_base']} s)")
        return value

    @property
    def ui_base(self) -> str:
        return self.candybar_url.rstrip("/")
