"""The one definition of a timestamp the platform accepts, used wherever one is read.

RFC 3339 with an offset (``Z`` or ``±HH:MM``, ``T``/``Z`` in either case), at most six
fractional digits (microseconds), no leap second, and a year between 1970 and 9999 once
converted to UTC. The gateway's validation, the consumers' validation and Candystore's
write path all call :func:`parse_timestamp`, so what one end accepts the other stores.

Exceptions::

    InvalidTimestamp (ValueError)    not a timestamp of that shape; ``str()`` says why and gives an example
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "OUT_OF_RANGE",
    "InvalidTimestamp",
    "canonical_timestamp",
    "is_timestamp",
    "parse_timestamp",
]

MIN_YEAR = 1970
MAX_YEAR = 9999
EXAMPLE = "'2026-11-02T14:03:27Z'"
OUT_OF_RANGE = f"is out of range: the year in UTC must be between {MIN_YEAR} and {MAX_YEAR}"

_SHAPE = re.compile(
    r"(?P<clock>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_MAX_FRACTION_DIGITS = 6
_PLAINLY_VALID = re.compile(
    r"(?:197[1-9]|19[89]\d|[2-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])"
    r"[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
"""Timestamps valid on their face, most of what is checked: days 1-28 exist in every month, and from 1971
to 9998 no offset can move the year out of range."""


class InvalidTimestamp(ValueError):
    """A value that is not a timestamp the platform accepts; ``reason`` completes the sentence begun by the value."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{_show(value)} {reason}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004


def parse_timestamp(value: str) -> datetime:
    """The aware UTC datetime ``value`` stands for; raises :class:`InvalidTimestamp` saying why not."""
    return canonical_timestamp(value)[1]


def is_timestamp(value: str) -> bool:
    """Whether ``value`` is a timestamp the platform accepts (the ``date-time`` format of the schemas)."""
    if _PLAINLY_VALID.fullmatch(value):
        return True
    try:
        canonical_timestamp(value)
    except InvalidTimestamp:
        return False
    return True


def canonical_timestamp(value: str) -> tuple[str, datetime]:
    """``value`` as stored: UTC text with ``Z`` (fractional digits kept as given), and as an aware datetime."""
    clock, fraction, offset = _parts(value)
    try:
        moment = datetime.fromisoformat(f"{clock[:10]}T{clock[11:]}{fraction}{offset}")
    except ValueError as exc:
        raise InvalidTimestamp(value, f"is not a valid date and time ({exc}), e.g. {EXAMPLE}") from None
    if offset != "+00:00":
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise InvalidTimestamp(value, OUT_OF_RANGE) from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidTimestamp(value, OUT_OF_RANGE)
    if value[10] == "T" and value[-1] == "Z":
        return value, moment  # already the canonical text, as every publisher of the platform writes it
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z", moment


def _parts(value: str) -> tuple[str, str, str]:
    """The date and time, the fraction (``""`` or ``.ddd``) and the offset (``+00:00`` for ``Z``) of ``value``."""
    match = _SHAPE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidTimestamp(value, f"is not an RFC 3339 timestamp with an offset, e.g. {EXAMPLE}")
    clock, fraction, offset = match.group("clock", "fraction", "offset")
    if fraction is not None and len(fraction) - 1 > _MAX_FRACTION_DIGITS:
        raise InvalidTimestamp(value, "has more than 6 fractional digits: the platform keeps microseconds")
    if clock[17:19] == "60":
        raise InvalidTimestamp(value, "is a leap second (second 60), which cannot be represented: use second 59")
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif int(offset[1:3]) > 23 or int(offset[4:6]) > 59:  # noqa: PLR2004 - hours and minutes
        raise InvalidTimestamp(value, "has an offset beyond ±23:59")
    return clock, fraction or "", offset
