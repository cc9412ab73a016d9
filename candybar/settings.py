"""Candybar's settings, read from ``CANDYBAR_*`` environment variables when the server starts."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BUNDLE_DIR", "CandybarSettings", "origin_of"]

BUNDLE_DIR = Path(__file__).parent / "static"
"""Where the built bundle ships inside the package (``npm run build:ui`` writes it)."""


class CandybarSettings(BaseSettings):
    """Where the APIs the UI talks to are. Built in the app factory, never at import time."""

    model_config = SettingsConfigDict(env_prefix="CANDYBAR_", extra="ignore")

    gateway_url: str = Field(default="http://127.0.0.1:8682", description="the Bloodbank gateway and schema registry")
    candystore_url: str = Field(default="http://127.0.0.1:8683", description="Candystore: events, traces, dead letters")
    visibility_url: str = Field(default="http://127.0.0.1:8685", description="the visibility layer: conflicts, OKRs")
    bundle_dir: Path = Field(default=BUNDLE_DIR, description="the built UI; the packaged one unless developing")

    @field_validator("gateway_url", "candystore_url", "visibility_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host (http://127.0.0.1:8683), got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"expected a base URL without query or fragment, got {value!r}")
        return value.strip().rstrip("/")

    @property
    def api_urls(self) -> dict[str, str]:
        """The base URL of each API, by the name the UI knows it under."""
        return {"gateway": self.gateway_url, "candystore": self.candystore_url, "visibility": self.visibility_url}


def origin_of(url: str) -> str:
    """``http://host:port`` of a base URL (the part a Content-Security-Policy names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
