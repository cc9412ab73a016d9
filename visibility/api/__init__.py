"""The visibility layer's HTTP API (port 8685)."""

from visibility.api.app import create_api

__all__ = ["create_api"]
