"""What the platform's commands share: consoles, library logs on stderr, settings read with every problem named,
and a service run until it stops, or refused in one line when what it needs is unavailable."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import pydantic
import structlog
import typer
from pydantic_settings import BaseSettings
from rich.console import Console

from gumdrop.logs import InvalidLogSetting, LogConfig, configure_logs
from gumdrop.store_errors import StoreError
from gumdrop.telemetry import InvalidTelemetrySetting, exporter_names, traces_from_environment
from gumdrop.unavailable import EXIT_UNAVAILABLE, ServiceUnavailable, SettingRefused

__all__ = [
    "EXIT_INVALID",
    "EXIT_UNAVAILABLE",
    "err",
    "logs_on_stderr",
    "out",
    "read_settings",
    "run_service",
]

EXIT_INVALID = 1
"""The exit code of a command refused for invalid input or settings."""

# No markup: event types, payloads and reasons may contain brackets that must print as they are.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

_Settings = TypeVar("_Settings", bound=BaseSettings)


@contextmanager
def logs_on_stderr(level: int = logging.WARNING) -> Iterator[None]:
    """Logs (``level`` and worse, unless ``LOG_LEVEL`` says otherwise) go to stderr, so that stdout carries only
    what the command prints; ``LOG_FORMAT`` chooses JSON or console lines (:mod:`gumdrop.logs`).

    A bad ``LOG_FORMAT`` or ``LOG_LEVEL`` ends the command in one line, exit 1.
    """
    try:
        config = LogConfig.from_environment(default_level=level, stream=sys.stderr)
    except InvalidLogSetting as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    previous = structlog.get_config()
    configure_logs(config, sys.stderr)
    try:
        yield
    finally:
        structlog.configure(**previous)


def traces(service: str) -> AbstractContextManager[bool]:
    """Trace the command as the ``OTEL_*`` variables say (:mod:`gumdrop.telemetry`); a value it cannot honour
    ends the command in one line, exit 1."""
    try:
        exporter_names()
    except InvalidTelemetrySetting as exc:
        err.print(str(exc))
        raise typer.Exit(EXIT_INVALID) from exc
    return traces_from_environment(service)


def read_settings(kind: type[_Settings], err: Console) -> _Settings:
    """``kind()`` from the environment; invalid settings print one line each (``invalid setting NAME: …``), exit 1."""
    try:
        return kind()
    except pydantic.ValidationError as exc:
        prefix = str(kind.model_config.get("env_prefix", "")).upper()
        for error in exc.errors():
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            err.print(f"invalid setting {name}: {error['msg']}")
        raise typer.Exit(EXIT_INVALID) from exc


def run_service(main: Coroutine[Any, Any, None], *, command: str) -> None:
    """Run ``main`` (a service, until it stops); a database, broker or port it cannot have ends it in one line.

    ``ServiceUnavailable`` exits with code 2 (``candystore serve failed: the database is
    unavailable: …``), any other store error with 1; a bug still shows its traceback.
    """
    try:
        asyncio.run(main)
    except ServiceUnavailable as exc:
        err.print(f"{command} failed: {exc}")
        raise typer.Exit(EXIT_UNAVAILABLE) from exc
    except (StoreError, SettingRefused) as exc:
        err.print(f"{command} failed: {exc}")
        raise typer.Exit(EXIT_INVALID) from exc
