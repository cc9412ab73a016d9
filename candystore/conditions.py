"""Payload conditions: ``payload.PATH[op]=value``, the syntax design.md gives ``GET /events``, checked in Python.

One parser and one meaning for every use: outbound deliveries check conditions here, in Python, and
``GET /events`` has the store translate the same parsed conditions to SQL
(:mod:`candystore.store.payload_conditions`), which must select exactly what :meth:`Condition.matches`
accepts.

``PATH`` is dot-separated object keys (``items.0.sku`` also steps into arrays by index: a key of
ASCII digits, see :func:`array_index`);
``op`` is one of::

    eq        equal (the default when ``[op]`` is left out)
    ne        present and not equal
    lt, gt    less, greater: numbers with numbers, text with text (RFC 3339 times in UTC compare as text);
              anything else (null, true, a number against text) is not ordered: no match
    contains  text holding the value as a substring, or an array holding an item equal to it
    exists    ``true``: the field is present (null counts); ``false``: it is absent

The value is read as a JSON scalar when it is one (``3``, ``true``, ``null``, ``"S-1"``) and as
text otherwise (``S-1``). A condition on an absent field is false, except ``exists=false``:
``payload.status[ne]=cancelled`` does not match an event without ``status``.

Exceptions::

    InvalidCondition (ValueError)    not a condition; ``str()`` says what is wrong and gives an example
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "CONDITION_SYNTAX",
    "MAX_CONDITION_LENGTH",
    "Condition",
    "InvalidCondition",
    "Operator",
    "array_index",
    "matches_all",
]

MAX_CONDITION_LENGTH = 1000
"""Characters a condition may have at most."""
_PREFIX = "payload."
_KEY = r"[^\[\]=.\n\r\u2028\u2029]+"
_LINE = r"[^\n\r\u2028\u2029]*"
_COMPARED = rf"(?:\[(?:eq|ne|lt|gt|contains)\])?={_LINE}"
CONDITION_SYNTAX = rf"^payload\.{_KEY}(?:\.{_KEY})*(?:{_COMPARED}|\[exists\]=(?:true|false))$"
"""The well-formed conditions, length aside, as a regular expression (for documents such as OpenAPI): keys
without ``[``, ``]``, ``=``, ``.`` or a line break, a value on one line."""
_WELL_FORMED = re.compile(CONDITION_SYNTAX)
_SHAPE = re.compile(r"payload\.(?P<path>[^\[\]=]+)(?:\[(?P<op>[a-z]+)\])?=(?P<value>.*)", re.DOTALL)
_EXAMPLE = "e.g. 'payload.store_id=S-42' or 'payload.price[gt]=30'"
_ABSENT = object()


class InvalidCondition(ValueError):
    """A text that is not a payload condition; ``reason`` says what is wrong."""

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        shown = text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004
        super().__init__(f"{shown!r} is not a payload condition: {reason}")


class Operator(StrEnum):
    """How a condition compares the field with its value."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    GT = "gt"
    CONTAINS = "contains"
    EXISTS = "exists"


def _value(text: str) -> Any:
    """The JSON scalar ``text`` stands for, or ``text`` itself."""
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text
    return value if value is None or isinstance(value, str | int | float | bool) else text


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(field: object, value: object) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    if _is_number(field) and _is_number(value):
        return field == value
    return type(field) is type(value) and field == value


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed condition; build it with :meth:`parse`."""

    text: str
    """The condition as given."""
    path: tuple[str, ...]
    operator: Operator
    value: Any

    @classmethod
    def parse(cls, text: str) -> Condition:
        """The condition ``text`` stands for; raises :class:`InvalidCondition` saying what is wrong."""
        if len(text) > MAX_CONDITION_LENGTH:
            raise InvalidCondition(text, f"it is longer than {MAX_CONDITION_LENGTH} characters")
        if not text.startswith(_PREFIX):
            raise InvalidCondition(text, f"it must start with {_PREFIX!r}, {_EXAMPLE}")
        shape = _SHAPE.fullmatch(text)
        if shape is None:
            raise InvalidCondition(text, f"expected payload.PATH[op]=value, {_EXAMPLE}")
        path = tuple(shape["path"].split("."))
        if not all(path):
            raise InvalidCondition(text, "the path has an empty key (two dots in a row, or a dot at its end)")
        operators = ", ".join(op.value for op in Operator)
        try:
            operator = Operator(shape["op"] or Operator.EQ)
        except ValueError:
            raise InvalidCondition(text, f"unknown operator {shape['op']!r}; use one of {operators}") from None
        if _WELL_FORMED.fullmatch(text) is None:
            if operator is Operator.EXISTS:
                raise InvalidCondition(text, "exists takes true or false, e.g. 'payload.quantity[exists]=true'")
            raise InvalidCondition(text, "a condition is one line: no line break in its path or its value")
        value = _value(shape["value"])
        return cls(text, path, operator, value)

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Whether ``payload`` meets the condition."""
        field = _lookup(payload, self.path)
        if self.operator is Operator.EXISTS:
            return (field is not _ABSENT) == bool(self.value)
        return field is not _ABSENT and _COMPARE[self.operator](field, self.value)


def _contains(field: object, value: object) -> bool:
    if isinstance(field, str):
        return isinstance(value, str) and value in field
    return isinstance(field, list) and any(_equal(item, value) for item in field)


def _ordered(field: object, value: object, *, less: bool) -> bool:
    if _is_number(field) and _is_number(value):
        return bool(field < value) if less else bool(field > value)  # type: ignore[operator]
    if isinstance(field, str) and isinstance(value, str):
        return field < value if less else field > value
    return False


_COMPARE: dict[Operator, Callable[[object, object], bool]] = {
    Operator.EQ: _equal,
    Operator.NE: lambda field, value: not _equal(field, value),
    Operator.LT: lambda field, value: _ordered(field, value, less=True),
    Operator.GT: lambda field, value: _ordered(field, value, less=False),
    Operator.CONTAINS: _contains,
}


def array_index(key: str) -> int | None:
    """The array index a path key stands for when the step meets an array (``"0"``, ``"12"``), or None.

    Only ASCII digits: ``str.isdigit`` also takes ``"²"`` or ``"٣"``, which no index is written as.
    """
    return int(key) if key.isascii() and key.isdigit() else None


def _lookup(document: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` (object keys, array indexes), or ``_ABSENT``."""
    current = document
    for key in path:
        index = array_index(key)
        if isinstance(current, Mapping):
            current = current.get(key, _ABSENT)
        elif isinstance(current, list) and index is not None and index < len(current):
            current = current[index]
        else:
            return _ABSENT
        if current is _ABSENT:
            return _ABSENT
    return current


def matches_all(conditions: Sequence[Condition], payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` meets every condition (no condition: any payload does)."""
    return all(condition.matches(payload) for condition in conditions)
