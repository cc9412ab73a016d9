"""JSON as the platform accepts it: exact, unambiguous, and storable everywhere.

RFC 8259 leaves some things to implementations; the platform decides them once, here,
for every end that reads an event (the gateway, the consumers, Candystore):

- a key appears once per object (a duplicate is refused, never "last one wins");
- nesting is at most :data:`MAX_DEPTH` containers deep;
- strings hold no U+0000 (PostgreSQL's text and JSONB cannot);
- numbers stay within the range of a double (integers of any size inside it stay exact).

Exceptions::

    InvalidJson (ValueError)    not JSON, or JSON the platform refuses; ``path`` says where, ``message`` what
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

__all__ = ["MAX_DEPTH", "InvalidJson", "check_json_value", "decode_json", "json_path"]

MAX_DEPTH = 64
"""Containers (objects and arrays) nested inside one another at most, the document itself counting as one."""

_LARGEST = int(sys.float_info.max)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


class InvalidJson(ValueError):
    """A document that is not JSON, or JSON the platform refuses: ``path`` (``$…``) and ``message`` say why."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def json_path(parts: Sequence[str | int]) -> str:
    """``["payload", "items", 3, "sku"]`` → ``$.payload.items[3].sku``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def decode_json(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON exactly (integers of any size, floats correctly rounded); raises :class:`InvalidJson`."""
    try:
        value = _decoder.decode(raw)
    except RecursionError:
        raise InvalidJson("$", _too_deep()) from None
    except msgspec.DecodeError as exc:
        raise InvalidJson("$", f"not valid JSON: {exc}") from None
    if isinstance(value, dict | list):
        text = raw.encode() if isinstance(raw, str) else bytes(raw)
        check_json_value(value, encoded=text)
        _refuse_duplicate_keys(text, value)
    elif isinstance(value, str | int):
        check_json_value(value)
    return value


def check_json_value(value: Any, *, encoded: bytes | None = None) -> None:
    """Raise :class:`InvalidJson` at the first place a decoded document breaks the rules of this module.

    ``encoded``, the document's JSON text if at hand, makes the common case cheap: text
    with few brackets, no escaped U+0000 and no long run of digits needs no walk of the
    value. Duplicate keys cannot be seen in a decoded document: :func:`decode_json` checks those.
    """
    if encoded is not None and not _suspicious(encoded):
        return
    if _acceptable(value, 1):
        return
    for path, message in _problems(value, [], 1):
        raise InvalidJson(json_path(path), message)


_SKELETON = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x5B if byte in b"[{" else 0x20  # noqa: PLR2004 - digits to '0', openers to '['
    for byte in range(256)
)
"""Maps digits to '0', '[' and '{' to '[' and everything else to a space: one pass shows depth and digit runs."""
_DIGIT_RUN = b"0" * 24
"""Digits in a row that hardly any event has: only text with such a run can hold an integer beyond a double's
range (309 digits at least), and searching for this short run is far cheaper than for the long one."""


def _suspicious(text: bytes) -> bool:
    """Whether ``text`` could break a rule: a few scans in C, no walk of the decoded value."""
    if rb"\u0000" in text:
        return True
    skeleton = text.translate(_SKELETON)
    return skeleton.count(b"[") > MAX_DEPTH or _DIGIT_RUN in skeleton


def _acceptable(value: Any, depth: int) -> bool:
    """The fast check: True when nothing is wrong (one pass, no paths kept)."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value
    if kind is int:
        return bool(-_LARGEST <= value <= _LARGEST)
    if kind is dict:
        return depth <= MAX_DEPTH and all(
            "\x00" not in key and _acceptable(item, depth + 1) for key, item in value.items()
        )
    if kind is list:
        return depth <= MAX_DEPTH and all(_acceptable(item, depth + 1) for item in value)
    return True  # float (msgspec refuses inf and nan), bool, None


def _problems(value: Any, path: list[str | int], depth: int) -> Iterator[tuple[list[str | int], str]]:
    """Where and what is wrong, in document order (the slow check, run only when the fast one failed)."""
    if isinstance(value, str) and "\x00" in value:
        yield path, "contains the character U+0000, which no stored text can hold"
    elif isinstance(value, dict | list) and depth > MAX_DEPTH:
        yield path, _too_deep()
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield [*path, key], "the key contains the character U+0000, which no stored text can hold"
            yield from _problems(item, [*path, key], depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _problems(item, [*path, index], depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and not -_LARGEST <= value <= _LARGEST:
        yield path, f"the number {str(value)[:20]}… ({len(str(abs(value)))} digits) is beyond the range of a double"


def _too_deep() -> str:
    return f"nested deeper than {MAX_DEPTH} objects and arrays: flatten the document"


def _refuse_duplicate_keys(raw: bytes | bytearray | memoryview | str, value: dict[str, Any] | list[Any]) -> None:
    """Raise :class:`InvalidJson` naming the first key that appears twice in one object of ``raw``.

    The common case costs one encoding: text that is exactly what msgspec writes for the
    decoded value (every publisher of the platform writes that) has no duplicate, since a
    repeated key would have made it longer. Any other text is parsed again, keeping pairs.
    """
    text = raw.encode() if isinstance(raw, str) else bytes(raw)
    if _encoder.encode(value) == text:
        return
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as duplicate:
        where = _path_of(value, duplicate.holder) or []
        raise InvalidJson(
            json_path([*where, duplicate.key]), f"duplicate key {duplicate.key!r}: a key may appear once per object"
        ) from None


class _DuplicateKey(Exception):
    """Raised inside this module only, where a duplicate key is found."""

    def __init__(self, key: str, holder: dict[str, Any]) -> None:
        self.key = key
        self.holder = holder


def _unique_pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(items)
    if len(found) != len(items):
        seen: set[str] = set()
        key = next(key for key, _ in items if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _DuplicateKey(key, found)
    return found


def _path_of(value: Any, target: dict[str, Any]) -> list[str | int] | None:
    """The path of the first object of ``value`` equal to ``target`` (the one holding a duplicate key)."""
    if isinstance(value, dict):
        if value == target:
            return []
        children: Iterator[tuple[str | int, Any]] = iter(value.items())
    elif isinstance(value, list):
        children = iter(enumerate(value))
    else:
        return None
    for step, item in children:
        if (found := _path_of(item, target)) is not None:
            return [step, *found]
    return None
