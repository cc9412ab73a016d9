"""How every command logs (design.md, "Logs and traces"): ``LOG_FORMAT`` and ``LOG_LEVEL``, one configuration.

``LOG_FORMAT`` is ``json`` (one object a line: ``timestamp``, ``level``, ``logger``, ``event``
and the line's own fields) or ``console`` (readable lines); unset, a terminal gets console
lines and anything else (a file, a pipe, a log collector) JSON. ``LOG_LEVEL`` (``debug`` …
``critical``) overrides the level each command chooses. A line written inside a span carries its
``trace_id`` and ``span_id``. A logged exception is written as a
plain traceback: never the local variables of its frames, which hold request bodies and
payloads (and, for a RecursionError a thousand frames deep, take seconds to render).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "LOG_LEVELS",
    "InvalidLogSetting",
    "LogConfig",
    "configure_logs",
    "line_fields",
    "log_processors",
    "writes",
]

line_fields: ContextVar[Mapping[str, Any] | None] = ContextVar("gumdrop_line_fields", default=None)
"""Fields every line written in this context carries (a consumer sets the event's ids for its handling).

One variable set and reset per delivery, read only when a line is written: cheaper than binding each
field as a structlog context variable, on a path that handles thousands of events a second."""

LOG_LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FORMATS = ("json", "console")


class InvalidLogSetting(ValueError):
    """``LOG_FORMAT`` or ``LOG_LEVEL`` holds a value no command understands; ``str()`` names the variable."""


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Whether lines are JSON, the least level written, and whether console lines are coloured."""

    json: bool
    level: int
    colors: bool = False

    @classmethod
    def from_environment(
        cls, *, default_level: int, stream: TextIO, environ: Mapping[str, str] = os.environ
    ) -> LogConfig:
        """``LOG_FORMAT`` and ``LOG_LEVEL`` of ``environ`` for a command writing to ``stream``."""
        format_name = environ.get("LOG_FORMAT", "").strip().lower()
        if format_name and format_name not in _FORMATS:
            raise InvalidLogSetting(f"invalid setting LOG_FORMAT: expected json or console, got {format_name!r}")
        level_name = environ.get("LOG_LEVEL", "").strip().lower()
        if level_name and level_name not in LOG_LEVELS:
            expected = ", ".join(LOG_LEVELS)
            raise InvalidLogSetting(f"invalid setting LOG_LEVEL: expected one of {expected}, got {level_name!r}")
        terminal = stream.isatty()
        return cls(
            json=format_name == "json" or (not format_name and not terminal),
            level=LOG_LEVELS[level_name] if level_name else default_level,
            colors=terminal and "NO_COLOR" not in environ,
        )


class _NamedPrintLogger(structlog.PrintLogger):
    """structlog's print logger, knowing the name it was asked for (``get_logger(__name__)``)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def _add_line_fields(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    if (fields := line_fields.get()) is not None:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def _add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """``trace_id`` and ``span_id`` of the span the line is written in, when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", f"{context.trace_id:032x}")
        event_dict.setdefault("span_id", f"{context.span_id:016x}")
    return event_dict


def _json_line(event_dict: Any, **_options: Any) -> str:
    return msgspec.json.encode(event_dict, enc_hook=str).decode()


def log_processors(config: LogConfig) -> list[Processor]:
    """The processor chain of ``config``: the same fields either way, rendered as JSON or as console lines."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_line_fields,
        structlog.processors.add_log_level,
        _add_logger_name,
        _add_trace_ids,
        structlog.processors.StackInfoRenderer(),
        structlog.dev.set_exc_info,
    ]
    if config.json:
        return [
            *shared,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # the plain traceback as one string field, ``exception``
            structlog.processors.JSONRenderer(serializer=_json_line),
        ]
    return [
        *shared,
        structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
        structlog.dev.ConsoleRenderer(colors=config.colors, exception_formatter=structlog.dev.plain_traceback),
    ]


def writes(level: int) -> bool:
    """Whether a line at ``level`` would be written: lets a hot path skip building a line nobody reads."""
    # The filtering wrapper of structlog's configuration knows its level; a structlog not configured writes all.
    effective = getattr(structlog.get_config()["wrapper_class"], "get_effective_level", None)
    return effective is None or level >= effective(None)


def configure_logs(config: LogConfig, stream: TextIO) -> None:
    """Send every structlog line of the process to ``stream`` as ``config`` says."""
    structlog.configure(
        processors=log_processors(config),
        logger_factory=lambda *args: _NamedPrintLogger(stream, str(args[0]) if args else ""),
        wrapper_class=structlog.make_filtering_bound_logger(config.level),
        cache_logger_on_first_use=False,
    )
