"""What a service cannot start or go on without: a database, a broker, a port.

Each kind has its own exception (:class:`gumdrop.store_errors.DatabaseUnavailable`,
:class:`gumdrop.serving.PortUnavailable`, the bus's ``BrokerUnavailable``), all of this one
kind, so that a command tells them apart from a bug in one place
(:func:`gumdrop.console.run_service`): one line saying what is missing, exit code 2.
"""

from __future__ import annotations

__all__ = ["EXIT_UNAVAILABLE", "ServiceUnavailable", "SettingRefused"]

EXIT_UNAVAILABLE = 2
"""The exit code of a command whose database, broker or port is unavailable."""


class ServiceUnavailable(Exception):
    """Something the service needs is unavailable; ``str()`` says what and why."""


class SettingRefused(ValueError):
    """A setting the service will not run with (a keys file it cannot read, TLS files that do not fit, a
    password to be sent in clear text); ``str()`` names the setting and what to do. Exit code 1."""
