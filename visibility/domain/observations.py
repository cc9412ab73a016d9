"""What the detector reads from an event: observations, one per entity it speaks of, read as the rules' sources say.

A :class:`SourceReader` turns the payload of its source's event type into
:class:`Observation` s: one for an offer or a placement, one per line for a snapshot (its
``each`` list), each line's fields read before the event's. Each observation carries its
event time as epoch seconds too (``at``), which the rules compare on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from visibility.rules import Source, field_defaults

__all__ = ["Observation", "SourceReader", "as_datetime"]


def as_datetime(value: datetime | str) -> datetime:
    """An aware datetime from an RFC 3339 string or a datetime (a naive one is taken as UTC)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Observation:
    """What one event said about one entity: a team's (or, without a team, the truth's) values at a moment.

    A plain class with slots, not a dataclass: one is made per event on the detector's hot path.
    """

    __slots__ = ("at", "customer_facing", "event_id", "moment", "source", "team", "values")

    def __init__(  # noqa: PLR0917 - positional on the hot path
        self,
        event_id: str,
        source: str,
        team: str | None,
        moment: datetime,
        values: Mapping[str, Any],
        customer_facing: bool = True,
    ) -> None:
        self.event_id = event_id
        self.source = source
        self.team = team
        self.moment = moment
        self.values = values
        self.customer_facing = customer_facing
        self.at = moment.timestamp()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Observation):
            return NotImplemented
        return (self.event_id, self.source, self.team, self.moment, dict(self.values), self.customer_facing) == (
            other.event_id,
            other.source,
            other.team,
            other.moment,
            dict(other.values),
            other.customer_facing,
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, never a key

    def __repr__(self) -> str:
        return f"Observation({self.source} {self.event_id} team={self.team} at={self.moment.isoformat()})"

    def as_json(self) -> dict[str, Any]:
        """The observation as a JSON object (the detector's persisted memory)."""
        return {
            "event_id": self.event_id,
            "source": self.source,
            "team": self.team,
            "moment": self.moment.isoformat(),
            "values": dict(self.values),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Observation:
        return cls(
            event_id=str(data["event_id"]),
            source=str(data["source"]),
            team=data.get("team"),
            moment=as_datetime(data["moment"]),
            values=dict(data["values"]),
        )


class SourceReader:
    """Reads one source's event type into observations (the payload validated against its schema)."""

    __slots__ = ("_at", "_defaults", "_each", "_facing", "_team", "name", "source")

    def __init__(self, name: str, source: Source, *, fields: frozenset[str] | None = None) -> None:
        """``fields``: those the rules read (defaults are filled in for them alone); None: every field."""
        self.name = name
        self.source = source
        self._at = source.at
        self._team = source.team
        self._facing = source.customer_facing
        self._each = source.each
        defaults = field_defaults(source)
        self._defaults = {name: value for name, value in defaults.items() if fields is None or name in fields}

    @property
    def is_truth(self) -> bool:
        return self._team is None

    def read(self, payload: Mapping[str, Any], event_id: str) -> list[Observation]:
        """The payload's observations; KeyError, TypeError or ValueError when it lacks what the source names."""
        team = None if self._team is None else str(payload[self._team])
        facing = True if self._facing is None else payload.get(self._facing, True) is not False
        defaults = self._defaults
        if self._each is None:
            if defaults and not defaults.keys() <= payload.keys():
                payload = {**defaults, **payload}
            return [Observation(event_id, self.name, team, as_datetime(payload[self._at]), payload, facing)]
        common = {**defaults, **{name: value for name, value in payload.items() if name != self._each}}
        observations = []
        for element in payload[self._each]:
            values = {**common, **element}
            observations.append(Observation(event_id, self.name, team, as_datetime(values[self._at]), values, facing))
        return observations
