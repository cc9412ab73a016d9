"""What the ``candystore`` commands share: consoles, settings, exit codes and opening the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import typer

from bloodbank import BloodbankSettings, Bus
from bloodbank.errors import BrokerUnavailable
from candystore.settings import CandystoreSettings
from candystore.store import DatabaseUnavailable, EventStore, StoreError
from gumdrop.console import EXIT_INVALID, EXIT_UNAVAILABLE, err, logs_on_stderr, out, read_settings
from gumdrop.unavailable import SettingRefused

__all__ = [
    "EXIT_INVALID",
    "EXIT_UNAVAILABLE",
    "bloodbank_settings",
    "err",
    "logs_on_stderr",
    "open_bus",
    "open_store",
    "out",
    "settings",
]


def settings() -> CandystoreSettings:
    return read_settings(CandystoreSettings, err)


def bloodbank_settings() -> BloodbankSettings:
    return read_settings(BloodbankSettings, err)


@asynccontextmanager
async def open_store(config: CandystoreSettings) -> AsyncIterator[EventStore]:
    """The store, closed afterwards; an unreachable database exits with code 2, a refused setting or another
    store error with 1."""
    try:
        store = EventStore.open(config.sqlalchemy_url, connect_args=config.connect_args)
    except SettingRefused as exc:  # a password in clear text to another host, TLS files that do not fit
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    try:
        yield store
    except DatabaseUnavailable as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    except StoreError as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    finally:
        await store.close()


@asynccontextmanager
async def open_bus(config: BloodbankSettings) -> AsyncIterator[Bus]:
    """A started bus, closed afterwards; an unreachable broker exits with code 2."""
    try:
        bus = await Bus.start(config)
    except BrokerUnavailable as exc:
        err.print(f"cannot reach the broker: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    async with bus:
        yield bus
