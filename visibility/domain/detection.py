"""The rule engine: the rules of a :class:`RuleSet` compiled once, evaluated on each event; pure, in memory.

Compiling a rule set gives each source a :class:`~visibility.domain.observations.SourceReader`
and each (source, entity fields) pair a *view* of the memory. An arriving event is read
into observations; each is held in its views, then checked:

* a team's observation against the other teams' latest observations of the entity within
  the rule's window (scope ``teams``), and against the truth's latest line for the entity
  (scope ``truth``) when that truth can judge it;
* a truth's line against every team's latest observation of the entity it can judge.

A truth can judge an observation made at most ``staleness`` after it (and not more than
``window`` before it). When no such truth exists, or the values differ in a ``same`` field
(a currency), the check is **unverifiable**: counted per rule in
:attr:`DetectionEngine.counts`, never a conflict. An observation no customer saw
(``customer_facing`` false) is counted as a preview and neither held nor checked: it never
opens, joins or counts toward a conflict, nor toward the conflict rate.

Times are event times, so a replay or an out-of-order stream is judged as it happened.
A :class:`Finding` is one rule firing on one set of source events. The conflict it belongs
to is keyed by rule, entity and sorted teams: two teams for a check between teams, one for
a check against the truth. ``occurred_at`` is when the conflict became true: the latest
event time among its sources.

Redeliveries and events older than what is held for the same team (or truth) are not
checked again (see :mod:`visibility.domain.state`). ``now`` only drives :meth:`DetectionEngine.prune`;
without it the engine's clock is the latest event time it has seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from visibility.domain.observations import Observation, SourceReader
from visibility.domain.state import DetectorState, EntityKey
from visibility.rules import REPORTED_FIELDS, Comparison, Contradiction, Rule, RuleSet, Scope, percent_apart

__all__ = ["ConflictKey", "DetectionCounts", "DetectionEngine", "Finding", "view_name"]

ConflictKey = tuple[str, EntityKey, tuple[str, ...]]
"""``(rule, entity values, sorted teams)``: what identifies a conflict while it is open."""

_EVIDENCE = ("price", "availability", "quantity", "on_hand")
"""Fields every observation's evidence states (null when the source has none), besides its own."""


def view_name(source: str, entity: Sequence[str]) -> str:
    """The memory's name for a source's observations keyed by ``entity``: ``offer:product_id,store_id``."""
    return f"{source}:{','.join(entity)}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule firing on one set of source events."""

    rule: str
    rule_version: int
    severity: str
    entity: EntityKey
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    observations: tuple[Observation, ...]
    occurred_at: datetime
    summary: str
    fields: tuple[str, ...] = ()
    measured: float | None = None
    threshold: float | None = None
    customer_facing: bool = True

    @property
    def key(self) -> ConflictKey:
        return (self.rule, self.entity, self.teams)

    @property
    def source_event_ids(self) -> tuple[str, ...]:
        return tuple(observation.event_id for observation in self.observations)

    @property
    def details(self) -> dict[str, Any]:
        """The ``details`` object of ``visibility.conflict.detected.v1``."""
        details: dict[str, Any] = {
            "summary": self.summary,
            "observations": [self._evidence(observation) for observation in self.observations],
        }
        if self.measured is not None:
            details["measured"] = round(self.measured, 3)
        if self.threshold is not None:
            details["threshold"] = self.threshold
        return details

    def _evidence(self, observation: Observation) -> dict[str, Any]:
        values = observation.values
        evidence: dict[str, Any] = {"team": observation.team, "source": observation.source}
        evidence.update({name: values.get(name) for name in _EVIDENCE})
        evidence["observed_at"] = observation.moment.isoformat()
        evidence["event_id"] = observation.event_id
        evidence["fields"] = {name: values[name] for name in self.fields if name in values}
        return evidence


@dataclass(slots=True)
class DetectionCounts:
    """What the engine evaluated since the counts were last taken."""

    events: int = 0  # events checked: held and compared
    previews: int = 0  # events no customer saw: neither held nor compared
    ignored: int = 0  # redeliveries and events older than what is held
    conflicting: int = 0  # events that produced at least one finding
    unverifiable: dict[str, int] = field(default_factory=dict)  # by rule id


# --- comparisons ---------------------------------------------------------------------------

Verdict = tuple[float | None, float | None] | None
"""A conflict's (measured, threshold), or None when there is none."""

UNVERIFIABLE: Verdict = (float("nan"), float("nan"))
"""What a comparison answers when the values differ in a ``same`` field: no verdict can be given."""
_CLAIMED: Verdict = (None, None)

Judge = Callable[[Mapping[str, Any], Mapping[str, Any]], Verdict]
"""A comparison compiled for the hot path: (mine, theirs) → conflict, none or :data:`UNVERIFIABLE`."""


def _judge(compare: Comparison, *, against: str | None) -> Judge:
    """The comparison as one function, with its parameters bound (called once per pair of observations)."""
    same = compare.same
    field_name = compare.field or ""
    other_name = against or field_name

    def comparable(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
        for name in same:  # noqa: SIM110 - a loop: no generator made on the hot path
            if mine.get(name) != theirs.get(name):
                return False
        return True

    if compare.exclusive:
        return lambda _mine, _theirs: _CLAIMED
    if compare.relative_difference_above is not None:
        return _relative(compare.relative_difference_above, field_name, other_name, comparable if same else None)
    if compare.different:

        def different(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> Verdict:
            if same and not comparable(mine, theirs):
                return UNVERIFIABLE
            return _CLAIMED if mine.get(field_name) != theirs.get(other_name) else None

        return different
    return _contradiction(compare.contradiction or (), field_name, other_name, comparable if same else None)


Comparable = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


def _relative(threshold: float, field_name: str, other_name: str, comparable: Comparable | None) -> Judge:
    def relative(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> Verdict:
        if comparable is not None and not comparable(mine, theirs):
            return UNVERIFIABLE
        apart = percent_apart(mine[field_name], theirs[other_name])
        return (apart, threshold) if apart > threshold else None

    return relative


def _contradiction(
    table: Sequence[Contradiction], field_name: str, other_name: str, comparable: Comparable | None
) -> Judge:
    def contradiction(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> Verdict:
        if comparable is not None and not comparable(mine, theirs):
            return UNVERIFIABLE
        value, told = mine.get(field_name), theirs.get(other_name)
        for line in table:
            if value in line.shown and line.truth.holds(told):
                bound = line.truth.at_least if line.truth.at_least is not None else line.truth.at_most
                return (float(told) if isinstance(told, int | float) else None, bound)
        return None

    return contradiction


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("_", " ") if isinstance(value, str) else str(value)


def _name(field_name: str | None) -> str:
    return (field_name or "").replace("_", " ")


def _percent(value: float) -> str:
    return "an unbounded share" if value == float("inf") else f"{value:.1f} %"


class _CompiledRule:
    """One rule with its views, windows and comparison ready for the hot path."""

    __slots__ = (
        "against",
        "entity",
        "field",
        "form",
        "judge_peer",
        "judge_truth",
        "label",
        "observe_view",
        "rule",
        "same",
        "staleness",
        "table",
        "threshold",
        "truth_name",
        "truth_view",
        "window",
    )

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.entity = rule.entity
        self.observe_view = view_name(rule.observe, rule.entity)
        self.truth_name = rule.truth
        self.truth_view = view_name(rule.truth, rule.entity) if rule.truth is not None else None
        self.window = rule.window.total_seconds()
        self.staleness = rule.staleness.total_seconds()
        compare = rule.compare
        self.form = compare.form
        self.field = compare.field
        self.against = compare.against
        self.same = compare.same
        self.threshold = compare.relative_difference_above
        self.table = compare.contradiction or ()
        self.label = rule.label
        self.judge_peer = _judge(compare, against=compare.field)
        self.judge_truth = _judge(compare, against=compare.against)

    @property
    def fields(self) -> tuple[str, ...]:
        names = [*self.entity, *([self.field] if self.field else []), *self.same]
        if self.against and self.against != self.field:
            names.append(self.against)
        return tuple(dict.fromkeys(names))

    def describe(self, key: EntityKey) -> str:
        values = dict(zip(self.entity, key, strict=True))
        if self.label is not None:
            return self.label.format_map(values)
        return ", ".join(f"{name} {value}" for name, value in values.items())

    def could_contradict(self, shown: Mapping[str, Any]) -> bool:
        """Whether a truth could contradict the observation at all: if not, there is nothing to verify."""
        if self.form != "contradiction":
            return True
        value = shown.get(self.field or "")
        return any(value in line.shown for line in self.table)

    def summary_between(self, first: Observation, second: Observation, key: EntityKey, verdict: Verdict) -> str:
        where = self.describe(key)
        if self.form == "exclusive":
            minutes = self.window / 60
            return f"{second.team} and {first.team} both claimed {where} within {minutes:g} minutes."
        mine, theirs = self._shown(second.values), self._shown(first.values)
        return f"{second.team} showed {mine} for {where} while {first.team} showed {theirs}{self._apart(verdict)}"

    def summary_against(self, shown: Observation, truth: Observation, key: EntityKey, verdict: Verdict) -> str:
        where = self.describe(key)
        truth_said = f"{_text(truth.values.get(self.against or ''))}{self._same(truth.values)}"
        if self.form == "contradiction":
            return (
                f"{shown.team} showed {_name(self.field)} {self._shown(shown.values)} for {where}, "
                f"but the {truth.source}'s {_name(self.against)} is {truth_said}."
            )
        return (
            f"{shown.team} showed {self._shown(shown.values)} for {where} while the {truth.source} "
            f"{_name(self.against)} is {truth_said}{self._apart(verdict)}"
        )

    def _shown(self, values: Mapping[str, Any]) -> str:
        shown = _text(values.get(self.field or ""))
        quantity = values.get("quantity")
        if self.form == "contradiction" and quantity is not None:
            shown += f" ({quantity} units)"
        return shown + self._same(values)

    def _same(self, values: Mapping[str, Any]) -> str:
        return "".join(f" {values.get(name)}" for name in self.same)

    def _apart(self, verdict: Verdict) -> str:
        if self.form != "relative_difference_above" or verdict is None or verdict[0] is None:
            return "."
        return f" ({_percent(verdict[0])} apart, threshold {self.threshold:g} %)."


@dataclass(slots=True)
class _View:
    """The rules that read one view: checks between teams, against the truth, and as the truth."""

    name: str
    entity: tuple[str, ...]
    peers: list[_CompiledRule] = field(default_factory=list)
    against_truth: list[_CompiledRule] = field(default_factory=list)
    as_truth: list[_CompiledRule] = field(default_factory=list)
    window: float = 0.0
    _values: Callable[[Mapping[str, Any]], Any] = field(init=False)

    def __post_init__(self) -> None:
        self._values = itemgetter(*self.entity)

    def key(self, values: Mapping[str, Any]) -> EntityKey:
        """The entity's field values (None for a field the observation lacks)."""
        try:
            found = self._values(values)
        except KeyError:
            return tuple(values.get(name) for name in self.entity)
        return found if len(self.entity) > 1 else (found,)


class DetectionEngine:
    """Evaluates the rules of a :class:`RuleSet` on each arriving event."""

    def __init__(
        self, rules: RuleSet, *, now: Callable[[], datetime] | None = None, state: DetectorState | None = None
    ) -> None:
        self.state = state or DetectorState()
        self.counts = DetectionCounts()
        self._now = now
        self._clock = 0.0  # latest event time seen, epoch seconds
        self.configure(rules)

    def configure(self, rules: RuleSet) -> None:
        """Compile ``rules``; the memory of views they still read is kept (a hot reload)."""
        self.rules = rules
        views: dict[str, _View] = {}
        readers: dict[str, list[tuple[SourceReader, list[_View]]]] = {}
        by_source: dict[str, list[_View]] = {}

        def view_of(source: str, entity: tuple[str, ...]) -> _View:
            name = view_name(source, entity)
            if name not in views:
                views[name] = _View(name, entity)
                by_source.setdefault(source, []).append(views[name])
            return views[name]

        for rule in rules.rules:
            compiled = _CompiledRule(rule)
            observed = view_of(rule.observe, rule.entity)
            observed.window = max(observed.window, compiled.window)
            if Scope.TEAMS in rule.scope:
                observed.peers.append(compiled)
            if Scope.TRUTH in rule.scope and rule.truth is not None:
                observed.against_truth.append(compiled)
                view_of(rule.truth, rule.entity).as_truth.append(compiled)
        read: dict[str, set[str]] = {}
        for rule in rules.rules:
            fields = {*rule.entity, *REPORTED_FIELDS, *rule.compare.same}
            read.setdefault(rule.observe, set()).update(fields, [rule.compare.field] if rule.compare.field else [])
            if rule.truth is not None:
                read.setdefault(rule.truth, set()).update(fields, [rule.compare.against or ""])
        for name, source in rules.sources.items():
            if name in by_source:
                reader = SourceReader(name, source, fields=frozenset(read.get(name, ())))
                readers.setdefault(source.event_type, []).append((reader, by_source[name]))
        self._views = views
        self._readers = readers

    @property
    def event_types(self) -> frozenset[str]:
        """The event types some rule reads."""
        return frozenset(self._readers)

    def take_counts(self) -> DetectionCounts:
        """The counts since the last call; counting starts afresh."""
        counts, self.counts = self.counts, DetectionCounts()
        return counts

    def on_event(self, event_type: str, payload: Mapping[str, Any], event_id: str) -> list[Finding]:
        """Hold what the event says and check it; KeyError, TypeError or ValueError when it cannot be read."""
        readers = self._readers.get(event_type)
        if readers is None:
            return []
        findings: list[Finding] = []
        applied = previews = False
        for reader, views in readers:
            for observation in reader.read(payload, event_id):
                if not observation.customer_facing:
                    previews = True
                elif reader.is_truth:
                    applied |= self._on_truth(observation, views, findings)
                else:
                    applied |= self._on_team(observation, views, findings)
        counts = self.counts
        if applied:
            counts.events += 1
            if findings:
                counts.conflicting += 1
        elif previews:
            counts.previews += 1
        else:
            counts.ignored += 1
        return findings

    def prune(self) -> int:
        """Forget the teams' observations older than their rules' window (by ``now``, or the latest event time)."""
        now = self._now().timestamp() if self._now is not None else self._clock
        return sum(
            self.state.forget_before(view.name, now - view.window) for view in self._views.values() if view.window
        )

    # --- the checks --------------------------------------------------------------------------

    def _on_team(self, observation: Observation, views: list[_View], findings: list[Finding]) -> bool:
        # The hot path: one call per offer.
        state = self.state
        truths = state.truths
        at, values = observation.at, observation.values
        self._clock = max(self._clock, at)
        applied = False
        for view in views:
            key = view.key(values)
            if not state.put(view.name, key, observation):
                continue
            applied = True
            if view.peers:
                self._against_peers(observation, key, state.teams[view.name][key], view.peers, findings)
            for rule in view.against_truth:
                held = truths.get(rule.truth_view or "")
                truth = held.get(key) if held is not None else None
                if truth is not None and -rule.window <= at - truth.at <= rule.staleness:
                    self._against_truth(rule, observation, truth, key, findings)
                elif rule.could_contradict(values):
                    self._unverifiable(rule)
        return applied

    def _on_truth(self, truth: Observation, views: list[_View], findings: list[Finding]) -> bool:
        state = self.state
        applied = False
        self._clock = max(self._clock, truth.at)
        for view in views:
            key = view.key(truth.values)
            if not state.put_truth(view.name, key, truth):
                continue
            applied = True
            for rule in view.as_truth:
                teams = state.view(rule.observe_view).get(key)
                if not teams:
                    continue
                for observation in teams.values():
                    if self._judges(rule, truth, observation):
                        self._against_truth(rule, observation, truth, key, findings)
        return applied

    @staticmethod
    def _judges(rule: _CompiledRule, truth: Observation, observation: Observation) -> bool:
        lag = observation.at - truth.at
        return -rule.window <= lag <= rule.staleness

    def _against_peers(
        self,
        observation: Observation,
        key: EntityKey,
        peers: Mapping[str, Observation],
        rules: list[_CompiledRule],
        findings: list[Finding],
    ) -> None:
        at, values, team = observation.at, observation.values, observation.team
        for other, peer in peers.items():
            if other == team:
                continue
            apart = abs(peer.at - at)
            for rule in rules:
                if apart <= rule.window:
                    verdict = rule.judge_peer(values, peer.values)
                    if verdict is UNVERIFIABLE:
                        self._unverifiable(rule)
                    elif verdict is not None:
                        findings.append(self._between(rule, observation, peer, key, verdict))

    def _against_truth(
        self, rule: _CompiledRule, observation: Observation, truth: Observation, key: EntityKey, findings: list[Finding]
    ) -> None:
        verdict = rule.judge_truth(observation.values, truth.values)
        if verdict is UNVERIFIABLE:
            self._unverifiable(rule)
        elif verdict is not None:
            findings.append(
                self._finding(
                    rule,
                    key,
                    (observation.team or "",),
                    (observation, truth),
                    summary=rule.summary_against(observation, truth, key, verdict),
                    verdict=verdict,
                )
            )

    def _unverifiable(self, rule: _CompiledRule) -> None:
        unverifiable = self.counts.unverifiable
        unverifiable[rule.rule.id] = unverifiable.get(rule.rule.id, 0) + 1

    def _between(
        self, rule: _CompiledRule, observation: Observation, peer: Observation, key: EntityKey, verdict: Verdict
    ) -> Finding:
        ordered = (
            (peer, observation)
            if (peer.at, peer.team or "") <= (observation.at, observation.team or "")
            else (observation, peer)
        )
        teams = tuple(sorted((observation.team or "", peer.team or "")))
        summary = rule.summary_between(*ordered, key, verdict)
        return self._finding(rule, key, teams, ordered, summary=summary, verdict=verdict)

    @staticmethod
    def _finding(
        rule: _CompiledRule,
        key: EntityKey,
        teams: tuple[str, ...],
        observations: tuple[Observation, Observation],
        *,
        summary: str,
        verdict: Verdict,
    ) -> Finding:
        latest = observations[0] if observations[0].at >= observations[1].at else observations[1]
        shown = [observation for observation in observations if observation.team is not None]
        reported = max(shown, key=lambda observation: observation.at).values  # the latest team's word
        measured, threshold = verdict or (None, None)
        definition = rule.rule
        return Finding(
            rule=definition.id,
            rule_version=definition.version,
            severity=definition.severity.value,
            entity=key,
            product_id=str(reported.get("product_id")),
            store_id=str(reported.get("store_id")),
            teams=teams,
            observations=observations,
            occurred_at=latest.moment.astimezone(UTC),
            summary=summary,
            fields=rule.fields,
            measured=None if measured == float("inf") else measured,
            threshold=threshold,
        )
