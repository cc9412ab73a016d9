"""What the platform's commands share: consoles, library logs on stderr, settings read with every problem named,
and a service run until it stops, or refused in one line when what it needs is unavailable."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pydantic
import structlog
import typer
from pydantic_settings import BaseSettings
from rich.console import Console
from structlog.typing import Processor

from gumdrop.store_errors import StoreError
from gumdrop.unavailable import EXIT_UNAVAILABLE, ServiceUnavailable

__all__ = [
    "EXIT_INVALID",
    "EXIT_UNAVAILABLE",
    "err",
    "log_processors",
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
    """Library logs (``level`` and worse) go to stderr, so that stdout carries only what the command prints.

    A logged exception is rendered as a plain traceback: never the local variables of its
    frames, which hold request bodies and payloads (and, for a RecursionError a thousand
    frames deep, take seconds to render while the event loop waits).
    """
    previous = structlog.get_config()
    structlog.configure(
        processors=log_processors(colors=sys.stderr.isatty() and "NO_COLOR" not in os.environ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    try:
        yield
    finally:
        structlog.configure(**previous)


def log_processors(*, colors: bool = False) -> list[Processor]:
    """structlog's default chain, its console renderer printing tracebacks without local variables."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.dev.set_exc_info,
        structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
        structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback),
    ]


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
    except StoreError as exc:
        err.print(f"{command} failed: {exc}")
        raise typer.Exit(EXIT_INVALID) from exc
