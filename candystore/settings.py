"""Candystore's settings, read from ``CANDYSTORE_*`` environment variables when the service starts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, BeforeValidator, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gumdrop.settings import ServiceSettings, split_commas
from holyfields.wildcards import TypePattern

__all__ = [
    "DEFAULT_DELIVERY_RETRY_DELAYS",
    "MAX_DELIVERY_DELAY",
    "MAX_DELIVERY_TIERS",
    "MIN_DELIVERY_DELAY",
    "CandystoreSettings",
    "RetryDelays",
    "check_retry_delays",
]

DEFAULT_DELIVERY_RETRY_DELAYS = (10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0)
"""Seconds before each retry of an outbound delivery: 10 s, 1 min, 5 min, 30 min, 2 h, 6 h (about 8.6 h in all)."""
MIN_DELIVERY_DELAY = 0.01
"""The shortest tier a retry schedule may have: 10 ms."""
MAX_DELIVERY_DELAY = 7 * 24 * 3600.0
"""The longest tier a retry schedule may have: a week."""
MAX_DELIVERY_TIERS = 20


def check_retry_delays(value: Sequence[float]) -> None:
    """Raise ValueError unless ``value`` is 1 to 20 delays, each from 10 ms to a week."""
    if not 1 <= len(value) <= MAX_DELIVERY_TIERS:
        raise ValueError(f"give 1 to {MAX_DELIVERY_TIERS} retry delays in seconds, got {len(value)}")
    if bad := [delay for delay in value if not MIN_DELIVERY_DELAY <= delay <= MAX_DELIVERY_DELAY]:
        raise ValueError(
            f"each retry delay must be from {MIN_DELIVERY_DELAY:g} s to {MAX_DELIVERY_DELAY:g} s (a week), got {bad}"
        )


RetryDelays = Annotated[tuple[float, ...], NoDecode, BeforeValidator(split_commas)]
"""Retry tiers in seconds, in the environment as one comma-separated value (``10,60,300``)."""


class CandystoreSettings(ServiceSettings):
    """Everything Candystore reads from its environment (the database, host, origins and body limit as every
    service's). Built in the app factory, never at import time."""

    model_config = SettingsConfigDict(env_prefix="CANDYSTORE_", extra="ignore")

    port: int = Field(default=8683, gt=0, lt=65536)
    batch_size: int = Field(default=500, gt=0, description="events written per transaction at most")
    batch_wait: float = Field(
        default=0.005,
        gt=0,
        description="seconds a partial batch waits for more events; events arriving during a write join the next batch",
    )
    writers: int = Field(
        default=2,
        gt=0,
        le=16,
        description="batches written at once, each in its own transaction: a batch need not wait for the last commit",
    )
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {"retail.#": 7},
        description='days to keep events by type pattern (`*` one word, `#` zero or more words), JSON: {"retail.#": 7}',
    )
    purge_interval: float = Field(default=3600.0, gt=0, description="seconds between retention runs")
    trace_max_nodes: int = Field(default=1000, gt=0, description="nodes a trace returns at most")
    ready_max_held_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds a delivery may stay in hand unsettled (database failing, writer stuck) before "
        "/health/ready answers 503",
    )
    max_stream_subscribers: int = Field(
        default=1000, gt=0, description="live-stream sockets served at once; past it a socket is closed with 1013"
    )

    deliveries_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("DELIVERIES_FILE", "deliveries_file"),
        description="YAML file of outbound delivery subscriptions (read-only through the API); unset: none",
    )
    delivery_retry_delays: RetryDelays = Field(
        default=DEFAULT_DELIVERY_RETRY_DELAYS,
        description="seconds before each retry of a delivery a subscription does not set its own tiers for "
        "(comma-separated); after the last, the delivery is dead-lettered",
    )
    delivery_jitter: float = Field(
        default=0.2,
        ge=0,
        le=0.5,
        description="share by which each subscription's retry tiers are spread (0.2: within ±20 %), so that "
        "subscriptions failing together do not come back together",
    )
    delivery_concurrency: int = Field(
        default=16, gt=0, le=256, description="requests in flight per subscription unless it sets its own"
    )
    delivery_timeout: float = Field(
        default=10.0, ge=0.01, le=300, description="seconds a delivery's request may take in all unless it sets its own"
    )
    delivery_refresh_interval: float = Field(
        default=10.0,
        gt=0,
        description="seconds between reloads of the subscriptions, so that changes made through another "
        "Candystore process start and stop consumers here too",
    )
    delivery_record_days: int = Field(
        default=30,
        ge=1,
        description="days each successful delivery is remembered: a copy of the event arriving within them "
        "(a redelivery, a replay) is not sent again",
    )

    @field_validator("delivery_retry_delays")
    @classmethod
    def _valid_retry_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        check_retry_delays(value)
        return value

    @field_validator("retention_days")
    @classmethod
    def _valid_retention(cls, value: dict[str, int]) -> dict[str, int]:
        if bad := {pattern: days for pattern, days in value.items() if days < 1}:
            raise ValueError(f"retention days must be at least 1, got {bad}")
        for pattern in value:
            TypePattern.parse(pattern)  # InvalidPattern is a ValueError naming the pattern and what is wrong
        return value

    @property
    def prefetch(self) -> int:
        """Deliveries the ingestor holds at most: a batch for each writer and the next one filling."""
        return self.batch_size * (self.writers + 1)
