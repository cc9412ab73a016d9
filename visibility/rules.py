"""The detection rules: a YAML file in a small rule language, validated at load into a typed :class:`RuleSet`.

``VISIBILITY_RULES`` names the file; unset, the shipped ``default_rules.yaml`` applies
(it documents every field). A file names its **sources** (an event type, the payload
fields holding the team, the event time and whether a customer saw it, and for a list of
lines such as a snapshot's items the field holding the list) and its **rules**. A rule
names:

* the **entity** it compares on: payload fields (``[product_id, store_id]``);
* what it **observes** (a source with teams) and, to compare against, the **truth** (a
  source without teams);
* the **scope**: ``teams`` (each team against the others' latest observations of the
  entity) and/or ``truth`` (each team against the truth's latest line for the entity);
* the **comparison**, exactly one of ``relative_difference_above`` (a percent of the lower
  value), ``different`` (the values differ), ``contradiction`` (a table of what is shown
  against what the truth holds) and ``exclusive`` (two teams observed on one entity at all:
  a slot of a page);
* its **windows**: how long an observation counts (``window``), and how long after a truth
  an observation may still be judged by it (``staleness``);
* its **routing**: first responder, decision authority, alert channel and escalation steps;
* its **false-positive control**: the share of its resolutions that may be disputes before
  the rule is flagged with a suggested change (20 % over 7 days by default).

A bad file raises :class:`RulesError` listing every problem with the field's path, e.g.
``rules[0].compare.relative_difference_above: Input should be greater than 0``, including
fields that the source's event type does not have (checked against its schema).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from holyfields import ValidationIssue, default_catalog

__all__ = [
    "DEFAULT_RULES",
    "Alert",
    "Comparison",
    "Contradiction",
    "EscalationLevel",
    "EscalationStep",
    "FalsePositiveControl",
    "Routing",
    "Rule",
    "RuleSet",
    "RulesError",
    "Scope",
    "Severity",
    "Source",
    "field_defaults",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "percent_apart",
]

DEFAULT_RULES = "default_rules.yaml"
"""The rules file shipped inside the package."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NAME = r"^[a-z][a-z0-9_]*$"
_FIELD = r"^[a-z_][a-z0-9_]*$"
REPORTED_FIELDS = ("product_id", "store_id")
"""Fields every observed source has: a conflict is stored and filtered by product and store."""


class RulesError(ValueError):
    """The rules file cannot be used; ``issues`` holds every problem, each with its field path."""

    def __init__(self, source: str, issues: list[ValidationIssue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        super().__init__(f"invalid rules in {source}: " + "; ".join(map(str, self.issues)))


def parse_duration(value: Any) -> Any:
    """``"250ms"``, ``"30s"``, ``"15m"``, ``"24h"``, ``"2d"`` or a number of seconds → a timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '15m' or '24h', got {value!r}")  # noqa: TRY004 - pydantic reports ValueErrors
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if isinstance(value, str):
        raise ValueError(f"expected a duration such as '250ms', '30s', '15m', '24h' or '2d', got {value!r}")  # noqa: TRY004
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be longer than zero, got {value}")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
FieldName = Annotated[str, Field(pattern=_FIELD, max_length=64)]
Role = Annotated[str, Field(min_length=1, max_length=128)]


class Severity(StrEnum):
    """How serious a rule's conflicts are (the values of ``visibility.conflict.detected.v1``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class EscalationLevel(StrEnum):
    """Who an unresolved conflict reaches: the rule's decision authority, then the executive."""

    DECISION_AUTHORITY = "decision_authority"
    EXECUTIVE = "executive"


class Scope(StrEnum):
    """What an observation is compared with."""

    TEAMS = "teams"
    """The other teams' latest observations of the entity."""
    TRUTH = "truth"
    """The truth's latest line for the entity."""


class Alert(StrEnum):
    """Where a new conflict is announced."""

    SLACK = "slack"
    """A message to the Slack webhook, grouped per rule."""
    DASHBOARD = "dashboard"
    """Only the Conflicts page (and the bus): nobody is messaged."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Frozen):
    """Where observations come from: one event type and the payload fields the rules read."""

    event_type: str = Field(min_length=1, max_length=128, description="a registered event type")
    at: FieldName = Field(description="the field holding the event time (RFC 3339)")
    team: FieldName | None = Field(default=None, description="the field naming the team; none for a truth")
    customer_facing: FieldName | None = Field(
        default=None, description="a boolean field: false marks an observation no customer saw, never compared"
    )
    each: FieldName | None = Field(
        default=None, description="a list field: one observation per element, its fields read before the event's"
    )


class EscalationStep(_Frozen):
    """Escalate to ``to`` at ``level`` when still unresolved ``after`` the previous step (or the detection)."""

    after: Duration
    level: EscalationLevel
    to: Role

    @model_validator(mode="after")
    def _after_positive(self) -> EscalationStep:
        _positive(self.after)
        return self


class FalsePositiveControl(_Frozen):
    """When a rule's conflicts are disputed too often, it is flagged (the seed's rollback plan: past 20 %)."""

    max_disputed_share: float = Field(
        default=20.0, gt=0, le=100, description="percent of the rule's resolutions that may be disputes"
    )
    window: Duration = Field(default=timedelta(days=7), description="how far back resolutions count")
    min_resolved: int = Field(default=10, ge=1, description="resolutions needed before the share is judged")

    @model_validator(mode="after")
    def _window_positive(self) -> FalsePositiveControl:
        _positive(self.window)
        return self


class Routing(_Frozen):
    """Who answers for a rule's conflicts, where they are announced and how they escalate."""

    first_responder: Role
    decision_authority: Role
    alert: Alert = Alert.SLACK
    escalation: tuple[EscalationStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_in_order(self) -> Routing:
        levels = [step.level for step in self.escalation]
        if levels != sorted(levels, key=list(EscalationLevel).index) or len(set(levels)) != len(levels):
            raise ValueError("escalation steps go to the decision_authority first, then the executive, each once")
        return self


class Bound(_Frozen):
    """A condition on the truth's value: at most and/or at least a number, or equal to a value."""

    at_most: float | None = None
    at_least: float | None = None
    equals: str | float | bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Bound:
        if self.at_most is None and self.at_least is None and self.equals is None:
            raise ValueError("give at_most, at_least or equals")
        return self

    def holds(self, value: Any) -> bool:
        if self.equals is not None:
            return bool(value == self.equals)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (self.at_most is None or value <= self.at_most) and (self.at_least is None or value >= self.at_least)


class Contradiction(_Frozen):
    """One line of a contradiction table: showing one of ``shown`` while the truth meets ``truth``."""

    shown: tuple[str | float | bool, ...] = Field(min_length=1)
    truth: Bound


class Comparison(_Frozen):
    """What makes two observations (or an observation and the truth) a conflict: exactly one form."""

    field: FieldName | None = Field(default=None, description="the observed field compared")
    truth_field: FieldName | None = Field(default=None, description="the truth's field; default: the same name")
    same: tuple[FieldName, ...] = Field(
        default=(), description="fields that must be equal for a comparison to mean anything (a currency)"
    )
    relative_difference_above: float | None = Field(default=None, gt=0, le=1000)
    different: Literal[True] | None = None
    contradiction: tuple[Contradiction, ...] | None = Field(default=None, min_length=1)
    exclusive: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Comparison:
        forms = [name for name in _FORMS if getattr(self, name) is not None]
        if len(forms) != 1:
            raise ValueError(f"give exactly one of {', '.join(_FORMS)}; got {', '.join(forms) or 'none'}")
        if self.exclusive is None and self.field is None:
            raise ValueError(f"{forms[0]} compares a field: give `field`")
        if self.exclusive is not None and (self.field is not None or self.truth_field is not None or self.same):
            raise ValueError("exclusive compares no field: remove field, truth_field and same")
        return self

    @property
    def form(self) -> str:
        return next(name for name in _FORMS if getattr(self, name) is not None)

    @property
    def against(self) -> str | None:
        """The truth's field compared."""
        return self.truth_field or self.field


_FORMS = ("relative_difference_above", "different", "contradiction", "exclusive")


class Rule(_Frozen):
    """One comparison on one entity, its windows and its routing."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    version: int = Field(ge=1)
    description: str = ""
    severity: Severity
    entity: tuple[FieldName, ...] = Field(min_length=1, max_length=8)
    label: str | None = Field(
        default=None, max_length=200, description="how summaries name the entity, e.g. 'product {product_id}'"
    )
    observe: str = Field(pattern=_NAME)
    truth: str | None = Field(default=None, pattern=_NAME)
    scope: tuple[Scope, ...] = Field(min_length=1)
    compare: Comparison
    window: Duration = timedelta(minutes=15)
    staleness: Duration = timedelta(minutes=10)
    routing: Routing
    false_positives: FalsePositiveControl = FalsePositiveControl()

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        _positive(self.window)
        _positive(self.staleness)
        if len(set(self.scope)) != len(self.scope):
            raise ValueError("scope names teams and truth at most once each")
        if Scope.TRUTH in self.scope and self.truth is None:
            raise ValueError("scope truth needs a `truth` source")
        if Scope.TRUTH not in self.scope and self.truth is not None:
            raise ValueError("a `truth` source is only read with scope truth")
        form = self.compare.form
        if form == "contradiction" and self.scope != (Scope.TRUTH,):
            raise ValueError("a contradiction table compares with the truth: scope [truth]")
        if form == "exclusive" and self.scope != (Scope.TEAMS,):
            raise ValueError("exclusive compares teams with each other: scope [teams]")
        if self.label is not None:
            _check_label(self.label, self.entity)
        return self

    # The routing's parts, read where only they matter (escalation, alerts).
    @property
    def first_responder(self) -> str:
        return self.routing.first_responder

    @property
    def decision_authority(self) -> str:
        return self.routing.decision_authority

    @property
    def escalation(self) -> tuple[EscalationStep, ...]:
        return self.routing.escalation


def _check_label(label: str, entity: tuple[str, ...]) -> None:
    """A label names entity fields in plain braces: no attribute, index, conversion or format spec (``{a:>9999}``)."""
    try:
        parts = list(string.Formatter().parse(label))
    except ValueError as exc:
        raise ValueError(f"label may only name the entity's fields in braces: {exc}") from None
    for _, name, spec, conversion in parts:
        if name is not None and (name not in entity or spec or conversion):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"label may only name the entity's fields in braces, e.g. {{{entity[0]}}}; got {shown}")


class RuleSet(_Frozen):
    """Every source and rule of one file."""

    version: Literal[2] = 2
    sources: dict[Annotated[str, Field(pattern=_NAME, max_length=64)], Source] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; each rule needs its own id")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> Rule:
        """The rule with ``rule_id``; KeyError when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"no rule {rule_id!r}; the rules are {', '.join(r.id for r in self.rules)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(source.event_type for source in self.sources.values())


def percent_apart(a: float, b: float) -> float:
    """How far apart two values are, in percent of the lower one (``inf`` when only the lower is 0)."""
    low, high = (a, b) if a <= b else (b, a)
    if high == low:
        return 0.0
    if low <= 0:
        return float("inf")
    return (high - low) / low * 100.0


# --- checking a parsed file against the event types it names -----------------------------


def _source_properties(source: Source) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The schema properties of a source's event and of its ``each`` list's elements (empty without one)."""
    document = default_catalog().get(source.event_type)
    if document is None:
        return None
    schema = document.content
    element: Mapping[str, Any] = {}
    if source.each is not None:
        items = _resolve(schema, schema.get("properties", {}).get(source.each, {})).get("items", {})
        element = _properties(schema, _resolve(schema, items))
    return _properties(schema, schema), element


def _fields_of(source: Source) -> tuple[set[str], set[str]] | None:
    """The payload fields a source's observations have (element fields first), and those of the list's elements."""
    properties = _source_properties(source)
    if properties is None:
        return None
    top, element = properties
    return set(top) | set(element), set(element)


def field_defaults(source: Source) -> dict[str, Any]:
    """The schema defaults of the fields a source's observations have: an absent field reads as its default."""
    return {
        name: definition["default"]
        for properties in _source_properties(source) or ()
        for name, definition in properties.items()
        if isinstance(definition, Mapping) and "default" in definition
    }


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        found = root.get("definitions", {}).get(ref.removeprefix("#/definitions/"), {})
        return found if isinstance(found, Mapping) else {}
    return node


def _properties(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = _resolve(root, node).get("properties", {})
    return properties if isinstance(properties, Mapping) else {}


def _schema_issues(rules: RuleSet) -> Iterator[ValidationIssue]:
    fields: dict[str, set[str]] = {}
    for name, source in rules.sources.items():
        known = _fields_of(source)
        if known is None:
            yield ValidationIssue(f"sources.{name}.event_type", f"no event type {source.event_type!r} is registered")
            continue
        everything, element = known
        fields[name] = everything
        for attribute in ("at", "team", "customer_facing", "each"):
            value = getattr(source, attribute)
            if value is not None and value not in everything:
                yield ValidationIssue(f"sources.{name}.{attribute}", f"{source.event_type} has no field {value!r}")
        if source.each is not None and not element:
            yield ValidationIssue(f"sources.{name}.each", f"{source.each!r} is not a list of objects")
    for index, rule in enumerate(rules.rules):
        yield from _rule_issues(rules, f"rules[{index}]", rule, fields)


def _rule_issues(rules: RuleSet, where: str, rule: Rule, fields: Mapping[str, set[str]]) -> Iterator[ValidationIssue]:
    observed = rules.sources.get(rule.observe)
    if observed is None:
        yield ValidationIssue(f"{where}.observe", f"no source {rule.observe!r}; the sources are {_names(rules)}")
    elif observed.team is None:
        yield ValidationIssue(f"{where}.observe", f"source {rule.observe!r} names no team: it can only be a truth")
    if rule.truth is not None:
        truth = rules.sources.get(rule.truth)
        if truth is None:
            yield ValidationIssue(f"{where}.truth", f"no source {rule.truth!r}; the sources are {_names(rules)}")
        elif truth.team is not None:
            yield ValidationIssue(f"{where}.truth", f"source {rule.truth!r} names a team: a truth has none")
    compare = rule.compare
    if rule.observe in fields:
        needed = [*rule.entity, *REPORTED_FIELDS, *compare.same, *([compare.field] if compare.field else [])]
        yield from _missing(where, rule.observe, fields[rule.observe], needed, rule)
    if rule.truth is not None and rule.truth in fields:
        needed = [*rule.entity, *compare.same, *([compare.against] if compare.against else [])]
        yield from _missing(where, rule.truth, fields[rule.truth], needed, rule)


def _missing(where: str, source: str, known: set[str], needed: list[str], rule: Rule) -> Iterator[ValidationIssue]:
    for name in dict.fromkeys(needed):
        if name not in known:
            yield ValidationIssue(_field_path(where, name, rule), f"source {source!r} has no field {name!r}")


def _field_path(where: str, name: str, rule: Rule) -> str:
    if name in rule.entity:
        return f"{where}.entity[{rule.entity.index(name)}]"
    if name in rule.compare.same:
        return f"{where}.compare.same[{rule.compare.same.index(name)}]"
    if name in REPORTED_FIELDS:
        return f"{where}.observe"
    return f"{where}.compare.{'truth_field' if name == rule.compare.truth_field else 'field'}"


def _names(rules: RuleSet) -> str:
    return ", ".join(sorted(rules.sources))


# --- reading ----------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_rules(data: Any, *, source: str = "<rules>") -> RuleSet:
    """Validate already-parsed YAML; raises :class:`RulesError` naming every bad field."""
    if not isinstance(data, dict):
        raise RulesError(source, [ValidationIssue("", f"expected a mapping with `rules`, got {type(data).__name__}")])
    if data.get("version") == 1:
        message = "version 1 rule files are no longer read: see docs/runbooks/visibility.md for the version 2 form"
        raise RulesError(source, [ValidationIssue("version", message)])
    try:
        rules = RuleSet.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = [
            ValidationIssue(_path(tuple(error["loc"])), str(error["msg"]).removeprefix("Value error, "))
            for error in exc.errors()
        ]
        raise RulesError(source, issues) from exc
    if issues := list(_schema_issues(rules)):
        raise RulesError(source, issues)
    return rules


def read_rules_text(path: Path | None) -> tuple[str, str]:
    """The text of the rules file at ``path`` (None: the shipped default) and how to name it in errors."""
    if path is None:
        text = resources.files("visibility").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        return text, f"visibility/{DEFAULT_RULES}"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise RulesError(str(path), [ValidationIssue("", f"cannot read the file: {exc.strerror or exc}")]) from exc


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules of the YAML file at ``path``; None: the shipped default rules."""
    text, source = read_rules_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise RulesError(source, [ValidationIssue(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    return parse_rules(data, source=source)
