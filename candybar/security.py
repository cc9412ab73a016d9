"""The security headers of every answer, and the Content-Security-Policy they carry.

Event payloads are untrusted: the UI renders them as text, and the policy makes sure
that even a mistake there cannot run script. Only the bundle's own files may run (no
inline script, no ``eval``), and the page may connect only to itself and the APIs the
settings name, over HTTP and WebSocket.
"""

from __future__ import annotations

from collections.abc import Iterable

from candybar.settings import origin_of

__all__ = ["content_security_policy", "security_headers"]


def _websocket_origin(origin: str) -> str:
    """``ws://`` for an ``http://`` origin, ``wss://`` for ``https://``: the UI's live stream."""
    scheme, rest = origin.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"


def content_security_policy(api_urls: Iterable[str]) -> str:
    """The policy for a page that talks to ``api_urls`` (and to itself)."""
    origins = sorted({origin_of(url) for url in api_urls})
    connect = ["'self'", *origins, *(_websocket_origin(origin) for origin in origins)]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": connect,
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(api_urls: Iterable[str]) -> dict[str, str]:
    """The headers every answer carries."""
    return {
        "Content-Security-Policy": content_security_policy(api_urls),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
