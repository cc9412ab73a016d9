"""What the platform's commands share: library logs on stderr, and settings read with every problem named."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pydantic
import structlog
import typer
from pydantic_settings import BaseSettings
from rich.console import Console
from structlog.typing import Processor

__all__ = ["EXIT_INVALID", "log_processors", "logs_on_stderr", "read_settings"]

EXIT_INVALID = 1
"""The exit code of a command refused for invalid input or settings."""

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
