"""``candystore``: run the store, migrate it, trace and replay events, apply retention, work the dead letters.

Settings come from ``CANDYSTORE_*`` (the database) and ``BLOODBANK_*`` (the bus, for
``serve`` and the replays). Exit codes: 0 done; 1 invalid input or settings, or not
found; 2 the database or the broker cannot be reached.
"""

from candystore.cli.app import app

__all__ = ["app"]
