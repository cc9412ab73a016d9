"""Reading the fields of a webhook body that another service wrote: every missing or mistyped one named at its path.

A delivery is decoded JSON of any shape; its sender, not this platform, decides what is in it.
A :class:`BodyReader` reads the fields a mapping needs, each at a path of keys, and notes every
one that is missing or of the wrong JSON type instead of raising at the first, so the sender
learns about all of them in one ``422``. A read that failed returns a placeholder of the
right type; :meth:`BodyReader.raise_issues` ends the reading. What the values must be beyond
their type (patterns, lengths, enums) is the payload schema's to say, when the event is published.
"""

from __future__ import annotations

from typing import Any, TypeVar

from bloodbank.gateway.intake import json_type
from gumdrop.strict_json import json_path
from holyfields import InvalidEvent, ValidationIssue

__all__ = ["BodyReader"]

Key = str | int

_MISSING = object()
_T = TypeVar("_T")


class BodyReader:
    """Typed reads of one decoded body; ``issues`` holds what was missing or mistyped, each at its JSON path."""

    def __init__(self, document: object) -> None:
        self.document = document
        self.issues: list[ValidationIssue] = []

    def present(self, *path: Key) -> bool:
        """Whether the body has a value (``null`` included) at ``path``."""
        return self._find(path) is not _MISSING

    def text(self, *path: Key) -> str:
        value = self._required(path, "a string")
        return value if isinstance(value, str) else self._wrong(path, value, "a string", "")

    def optional_text(self, *path: Key) -> str | None:
        """The string at ``path``; None when it is absent or ``null``."""
        value = self._find(path)
        if value is _MISSING or value is None:
            return None
        return value if isinstance(value, str) else self._wrong(path, value, "a string or null", None)

    def integer(self, *path: Key) -> int:
        value = self._required(path, "an integer")
        # bool is an int to Python, not to JSON
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return self._wrong(path, value, "an integer", 0)

    def optional_integer(self, *path: Key) -> int | None:
        value = self._find(path)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return self._wrong(path, value, "an integer or null", None)

    def flag(self, *path: Key) -> bool:
        value = self._required(path, "a boolean")
        return value if isinstance(value, bool) else self._wrong(path, value, "a boolean", False)  # noqa: FBT003

    def mapping(self, *path: Key) -> dict[str, Any]:
        value = self._required(path, "an object")
        return value if isinstance(value, dict) else self._wrong(path, value, "an object", {})

    def optional_mapping(self, *path: Key) -> dict[str, Any] | None:
        value = self._find(path)
        if value is _MISSING or value is None:
            return None
        return value if isinstance(value, dict) else self._wrong(path, value, "an object or null", None)

    def items(self, *path: Key) -> list[Any]:
        """The array at ``path``; read its elements with the index appended to ``path``."""
        value = self._required(path, "an array")
        return value if isinstance(value, list) else self._wrong(path, value, "an array", [])

    def texts(self, *path: Key) -> list[str]:
        """The array of strings at ``path``."""
        return [self.text(*path, index) for index in range(len(self.items(*path)))]

    def identifier(self, *path: Key) -> str:
        """An identifier sent as a string or as an integer (n8n's API writes ids either way), as a string."""
        value = self._required(path, "a string or an integer")
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self._wrong(path, value, "a string or an integer", "")

    def optional_identifier(self, *path: Key) -> str | None:
        """Like :meth:`identifier`; None when the value is absent or ``null``."""
        return self.identifier(*path) if self._find(path) not in (_MISSING, None) else None

    def note(self, path: tuple[Key, ...], message: str) -> None:
        """Record a problem with the value at ``path`` that its type alone does not show."""
        self.issues.append(ValidationIssue(json_path(path), message))

    def raise_issues(self) -> None:
        """End the reading: :class:`~holyfields.InvalidEvent` with every problem noted, if there was any."""
        if self.issues:
            raise InvalidEvent(self.issues)

    def _find(self, path: tuple[Key, ...]) -> Any:
        value: Any = self.document
        for key in path:
            if isinstance(key, int):
                if not isinstance(value, list) or not 0 <= key < len(value):
                    return _MISSING
            elif not isinstance(value, dict) or key not in value:
                return _MISSING
            value = value[key]
        return value

    def _required(self, path: tuple[Key, ...], expected: str) -> Any:
        value = self._find(path)
        if value is _MISSING:
            self.note(path, f"is required: expected {expected}")
        return value

    def _wrong(self, path: tuple[Key, ...], value: object, expected: str, placeholder: _T) -> _T:
        if value is not _MISSING:  # a missing value was noted by _required already
            self.note(path, f"expected {expected}, got {json_type(value)}")
        return placeholder
