"""Candystore's settings, read from ``CANDYSTORE_*`` environment variables when the service starts."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from gumdrop.settings import ServiceSettings
from holyfields.wildcards import TypePattern

__all__ = ["CandystoreSettings"]


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
