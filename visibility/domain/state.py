"""The detector's memory: per view (a source and an entity), each team's latest observation and the latest truth.

A view is named ``source:field,field`` (``offer:product_id,store_id``); its entities are
keyed by their field values, so every check is a dict lookup and costs O(teams). What
changed since the last :meth:`DetectorState.take_changes` is tracked, so the detector can
persist exactly that in the transaction that writes the conflicts it caused, and
:meth:`DetectorState.restore` rebuilds the memory after a restart.

An observation replaces its team's held one only when it is newer (by event time); a
truth only when it is newer. An event already held (a redelivery) or older than what is
held (out of order) is refused, and the detector does not check it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from visibility.domain.observations import Observation

__all__ = ["DetectorState", "EntityKey", "StateChanges", "StoredObservation"]

EntityKey = tuple[object, ...]
"""The entity's field values, in the order the rule names them."""


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """An observation as persisted: its view, entity and team (None for a truth)."""

    view: str
    key: EntityKey
    observation: Observation

    @property
    def team(self) -> str | None:
        return self.observation.team


@dataclass(slots=True)
class StateChanges:
    """What changed since they were last taken: observations to upsert, per view a time to forget before."""

    held: dict[tuple[str, EntityKey, str | None], StoredObservation] = field(default_factory=dict)
    forgotten_before: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.held or self.forgotten_before)


class DetectorState:
    """Latest observation per (view, entity, team) and latest truth per (view, entity)."""

    __slots__ = ("_changes", "teams", "truths")

    def __init__(self) -> None:
        self.teams: dict[str, dict[EntityKey, dict[str, Observation]]] = {}
        self.truths: dict[str, dict[EntityKey, Observation]] = {}
        self._changes = StateChanges()

    def view(self, view: str) -> dict[EntityKey, dict[str, Observation]]:
        """The teams' observations of ``view`` (created empty)."""
        held = self.teams.get(view)
        if held is None:
            held = self.teams[view] = {}
        return held

    def truth_view(self, view: str) -> dict[EntityKey, Observation]:
        """The truths of ``view`` (created empty)."""
        held = self.truths.get(view)
        if held is None:
            held = self.truths[view] = {}
        return held

    def put(self, view: str, key: EntityKey, observation: Observation) -> bool:
        """Hold a team's observation; False when it is held already or older than the held one."""
        entities = self.teams.get(view)
        if entities is None:
            entities = self.teams[view] = {}
        teams = entities.get(key)
        if teams is None:
            teams = entities[key] = {}
        team = observation.team
        assert team is not None  # noqa: S101 - a truth goes through put_truth
        held = teams.get(team)
        if held is not None and (held.event_id == observation.event_id or held.at > observation.at):
            return False
        teams[team] = observation
        self._changes.held[view, key, team] = StoredObservation(view, key, observation)
        return True

    def put_truth(self, view: str, key: EntityKey, observation: Observation) -> bool:
        """Hold a truth; False when it is held already or older than the held one."""
        truths = self.truth_view(view)
        held = truths.get(key)
        if held is not None and (held.event_id == observation.event_id or held.at > observation.at):
            return False
        truths[key] = observation
        self._changes.held[view, key, None] = StoredObservation(view, key, observation)
        return True

    def forget_before(self, view: str, at: float) -> int:
        """Drop the teams' observations of ``view`` made before ``at`` (epoch seconds). Returns how many."""
        dropped = 0
        entities = self.teams.get(view, {})
        for key in list(entities):
            teams = entities[key]
            for team in [team for team, observation in teams.items() if observation.at < at]:
                del teams[team]
                self._changes.held.pop((view, key, team), None)
                dropped += 1
            if not teams:
                del entities[key]
        forgotten = self._changes.forgotten_before
        forgotten[view] = max(at, forgotten.get(view, at))
        return dropped

    def take_changes(self) -> StateChanges:
        """What changed since the last call, and start tracking afresh."""
        changes, self._changes = self._changes, StateChanges()
        return changes

    def restore(self, held: Iterable[StoredObservation]) -> None:
        """Replace the memory with persisted observations (nothing counts as changed)."""
        self.teams = {}
        self.truths = {}
        for stored in held:
            if stored.team is None:
                self.truth_view(stored.view)[stored.key] = stored.observation
            else:
                self.view(stored.view).setdefault(stored.key, {})[stored.team] = stored.observation
        self._changes = StateChanges()

    @property
    def observation_count(self) -> int:
        return sum(len(teams) for entities in self.teams.values() for teams in entities.values())
