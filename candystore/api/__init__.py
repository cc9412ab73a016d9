"""Candystore's HTTP and WebSocket API (port 8683): built by :func:`create_api`."""

from candystore.api.app import create_api

__all__ = ["create_api"]
