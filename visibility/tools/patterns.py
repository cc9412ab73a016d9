"""``visibility patterns``: what the stored history says about conflicts, read through Candystore's API.

* **hot spots**: conflicts counted by team pair (a team against the inventory counts as
  ``team vs inventory``), product, store, hour of the day (UTC) and rule;
* **recurring conflicts**: the same rule, product, store and teams seen more than once,
  reopened after a resolution (several conflict ids) or repeating while open;
* the **directly-follows graph** of event types along causation chains (process
  mining): for every stored event, each parent's type → its type, counted. A parent
  outside the history read is counted as unresolved.

Conflicts are the ``visibility.conflict.detected.v1`` events (one per occurrence: the
latest ``occurrence_count`` of each ``conflict_id`` is its count); the graph is drawn over
those, the escalations and resolutions, and the retail events they come from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from visibility.tools.http_json import pages
from visibility.tools.labels import format_time

__all__ = ["DETECTED", "HISTORY_TYPES", "HistoryEvent", "Patterns", "Recurring", "analyse", "fetch_history"]

DETECTED = "visibility.conflict.detected.v1"
HISTORY_TYPES = ("visibility.conflict.#", "retail.#")
"""The event types read: the conflicts' own events and the retail events they come from."""
PAGE_SIZE = 1000
_K = TypeVar("_K", str, int)
TOP = 10


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """A stored event, as far as the analysis needs it."""

    event_id: str
    event_type: str
    timestamp: str
    parents: tuple[str, ...]
    payload: Mapping[str, Any]

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> HistoryEvent:
        payload = envelope.get("payload")
        return cls(
            event_id=str(envelope["event_id"]),
            event_type=str(envelope["event_type"]),
            timestamp=str(envelope.get("timestamp", "")),
            parents=tuple(str(parent) for parent in envelope.get("correlation_ids") or ()),
            payload=payload if isinstance(payload, Mapping) else {},
        )


def fetch_history(
    api: str, *, since: datetime | None = None, types: Sequence[str] = HISTORY_TYPES, timeout: float = 10.0
) -> list[HistoryEvent]:
    """Every stored event of ``types`` (at or after ``since``) from the Candystore API at ``api``.

    Raises :class:`~visibility.tools.http_json.ApiProblem` when it does not answer or answers
    something other than pages of envelopes.
    """
    found: dict[str, HistoryEvent] = {}
    for event_type in types:
        params: dict[str, str | int | None] = {
            "event_type": event_type,
            "limit": PAGE_SIZE,
            "since": None if since is None else since.isoformat(),
        }
        for page in pages(api, "/events", params, timeout=timeout):
            for envelope in page:
                if "event_id" in envelope and "event_type" in envelope:
                    event = HistoryEvent.from_envelope(envelope)
                    found[event.event_id] = event
    return sorted(found.values(), key=lambda event: (event.timestamp, event.event_id))


@dataclass(frozen=True, slots=True)
class Recurring:
    """One conflict key seen more than once."""

    rule: str
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    conflicts: int
    occurrences: int
    first_seen: str
    last_seen: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "product_id": self.product_id,
            "store_id": self.store_id,
            "teams": list(self.teams),
            "conflicts": self.conflicts,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


@dataclass
class Patterns:
    """The result of :func:`analyse`."""

    events: int = 0
    conflicts: int = 0
    occurrences: int = 0
    team_pairs: Counter[str] = field(default_factory=Counter)
    products: Counter[str] = field(default_factory=Counter)
    stores: Counter[str] = field(default_factory=Counter)
    hours: Counter[int] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    recurring: list[Recurring] = field(default_factory=list)
    activities: Counter[str] = field(default_factory=Counter)
    flows: Counter[tuple[str, str]] = field(default_factory=Counter)
    starts: Counter[str] = field(default_factory=Counter)
    unresolved_parents: int = 0

    def to_json(self) -> dict[str, Any]:
        def top(counter: Counter[str], name: str) -> list[dict[str, Any]]:
            return [{name: key, "conflicts": count} for key, count in _ranked(counter)[:TOP]]

        return {
            "events": self.events,
            "conflicts": self.conflicts,
            "occurrences": self.occurrences,
            "hot_spots": {
                "team_pairs": top(self.team_pairs, "teams"),
                "products": top(self.products, "product_id"),
                "stores": top(self.stores, "store_id"),
                "hours": [{"hour": hour, "conflicts": self.hours.get(hour, 0)} for hour in range(24)],
                "rules": top(self.rules, "rule"),
            },
            "recurring": [item.to_json() for item in self.recurring[: TOP * 2]],
            "directly_follows": {
                "activities": [{"event_type": name, "count": count} for name, count in _ranked(self.activities)],
                "edges": [
                    {"from": parent, "to": child, "count": count}
                    for (parent, child), count in sorted(self.flows.items(), key=lambda item: (-item[1], item[0]))
                ],
                "starts": [{"event_type": name, "count": count} for name, count in _ranked(self.starts)],
                "unresolved_parents": self.unresolved_parents,
            },
        }


def _ranked(counter: Counter[_K]) -> list[tuple[_K, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def team_pair(teams: Sequence[str]) -> str:
    """How a conflict's teams read in the hot spots: ``a + b``, or ``a vs inventory`` for one team."""
    return " + ".join(sorted(teams)) if len(teams) > 1 else f"{teams[0] if teams else '?'} vs inventory"


def analyse(events: Iterable[HistoryEvent]) -> Patterns:
    """Hot spots, recurring conflicts and the directly-follows graph of ``events``."""
    result = Patterns()
    history = list(events)
    by_id = {event.event_id: event for event in history}
    latest: dict[str, HistoryEvent] = {}
    for event in history:
        result.events += 1
        result.activities[event.event_type] += 1
        if not event.parents:
            result.starts[event.event_type] += 1
        for parent in event.parents:
            known = by_id.get(parent)
            if known is None:
                result.unresolved_parents += 1
            else:
                result.flows[known.event_type, event.event_type] += 1
        if event.event_type == DETECTED and "conflict_id" in event.payload:
            conflict_id = str(event.payload["conflict_id"])
            held = latest.get(conflict_id)
            if held is None or _count(held) <= _count(event):
                latest[conflict_id] = event
    keys: dict[tuple[str, str, str, tuple[str, ...]], list[HistoryEvent]] = {}
    for event in latest.values():
        payload = event.payload
        teams = tuple(sorted(str(team) for team in payload.get("teams") or ()))
        result.conflicts += 1
        result.occurrences += _count(event)
        result.team_pairs[team_pair(teams)] += 1
        result.products[str(payload.get("product_id"))] += 1
        result.stores[str(payload.get("store_id"))] += 1
        result.rules[str(payload.get("rule"))] += 1
        if (hour := _hour(payload.get("occurred_at"))) is not None:
            result.hours[hour] += 1
        key = (str(payload.get("rule")), str(payload.get("product_id")), str(payload.get("store_id")), teams)
        keys.setdefault(key, []).append(event)
    result.recurring = _recurring(keys)
    return result


def _recurring(keys: Mapping[tuple[str, str, str, tuple[str, ...]], list[HistoryEvent]]) -> list[Recurring]:
    found = []
    for (rule, product, store, teams), conflicts in keys.items():
        occurrences = sum(_count(event) for event in conflicts)
        if len(conflicts) < 2 and occurrences < 2:  # noqa: PLR2004 - more than once
            continue
        seen = sorted(str(event.payload.get("occurred_at", event.timestamp)) for event in conflicts)
        last = max(str(event.payload.get("detected_at", event.timestamp)) for event in conflicts)
        found.append(Recurring(rule, product, store, teams, len(conflicts), occurrences, seen[0], last))
    found.sort(key=lambda item: (-item.conflicts, -item.occurrences, item.rule, item.product_id, item.store_id))
    return found


def _count(event: HistoryEvent) -> int:
    value = event.payload.get("occurrence_count", 1)
    return value if isinstance(value, int) and value > 0 else 1


def _hour(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return int(format_time(moment)[11:13]) if moment.tzinfo is not None else moment.hour
