"""Event type names, schema file paths and `$id`s, and how they map onto each other.

An event type is ``{domain}.{resource}.{action}.v{N}`` (convergence report 5.3).
Its payload schema lives at ``{domain}/{resource}.{action}.v{N}.schema.json`` under
the schema root, with ``$id`` ``https://33god.io/schemas/`` + that relative path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = [
    "ENVELOPE_ID",
    "EVENT_TYPE_PATTERN",
    "SCHEMA_BASE_URI",
    "UUID_PATTERN",
    "EventTypeName",
    "InvalidEventTypeName",
    "pascal_case",
    "schema_id_for",
]

SCHEMA_BASE_URI = "https://33god.io/schemas/"
ENVELOPE_ID = SCHEMA_BASE_URI + "core/event-envelope.v1.schema.json"

#: The envelope's pattern (report 5.1, with digits allowed in the domain for ``n8n``).
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9]*\.[a-z_.]+\.v\d+$")
#: The naming convention new event types must follow: exactly domain, resource, action.
_CONVENTION = re.compile(
    r"^(?P<domain>[a-z][a-z0-9]*)\.(?P<resource>[a-z][a-z_]*)\.(?P<action>[a-z][a-z_]*)\.v(?P<major>[1-9]\d*)$"
)
_SCHEMA_FILE = re.compile(r"^(?P<resource>[a-z][a-z_]*)\.(?P<action>[a-z][a-z_]*)\.v(?P<major>[1-9]\d*)\.schema\.json$")

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class InvalidEventTypeName(ValueError):
    """A string is not an event type of the form ``{domain}.{resource}.{action}.v{N}``."""


@dataclass(frozen=True, order=True, slots=True)
class EventTypeName:
    """A parsed event type, e.g. ``fireflies.transcript.ready.v1``."""

    domain: str
    resource: str
    action: str
    major: int

    @classmethod
    def parse(cls, text: str) -> EventTypeName:
        match = _CONVENTION.match(text)
        if match is None:
            raise InvalidEventTypeName(
                f"{text!r} is not a valid event type: expected {{domain}}.{{resource}}.{{action}}.v{{N}}"
                " in lowercase, e.g. 'fireflies.transcript.ready.v1'"
            )
        return cls(match["domain"], match["resource"], match["action"], int(match["major"]))

    @classmethod
    def from_schema_path(cls, relative: PurePosixPath) -> EventTypeName:
        """The event type whose payload schema is at ``relative`` (``domain/resource.action.vN.schema.json``)."""
        match = _SCHEMA_FILE.match(relative.name) if len(relative.parts) == 2 else None  # noqa: PLR2004
        if match is None or not re.fullmatch(r"[a-z][a-z0-9]*", relative.parts[0]):
            raise InvalidEventTypeName(
                f"{relative.as_posix()!r} is not a payload schema path: expected "
                "'{domain}/{resource}.{action}.v{N}.schema.json', e.g. 'fireflies/transcript.ready.v1.schema.json'"
            )
        return cls(relative.parts[0], match["resource"], match["action"], int(match["major"]))

    def __str__(self) -> str:
        return f"{self.domain}.{self.resource}.{self.action}.v{self.major}"

    @property
    def schema_path(self) -> PurePosixPath:
        return PurePosixPath(self.domain, f"{self.resource}.{self.action}.v{self.major}.schema.json")

    @property
    def schema_id(self) -> str:
        return schema_id_for(self.schema_path)

    @property
    def class_name(self) -> str:
        """The name generated code gives the payload type: ``FirefliesTranscriptReadyV1``."""
        return pascal_case(str(self))

    @property
    def module_name(self) -> str:
        """The generated module of the payload: ``transcript_ready_v1`` (inside the domain's package)."""
        return f"{self.resource}_{self.action}_v{self.major}"


def schema_id_for(relative: PurePosixPath) -> str:
    return SCHEMA_BASE_URI + relative.as_posix()


def pascal_case(text: str) -> str:
    """``fireflies.transcript.ready.v1`` → ``FirefliesTranscriptReadyV1``; ``-`` and ``_`` split words too."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[._\-]", text) if word)
