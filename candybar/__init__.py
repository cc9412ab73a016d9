"""Candybar: the monitoring web UI of the platform, and the small server that serves it.

The UI is a single-page app (sources in ``web/``, the built bundle in ``static/``) that
talks to the other components over HTTP and WebSocket only; this package imports none
of them.
"""

from candybar.server import create_app
from candybar.settings import CandybarSettings

__all__ = ["CandybarSettings", "create_app"]
