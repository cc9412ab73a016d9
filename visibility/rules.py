"""The detection rules: a YAML file, validated at load into a typed :class:`RuleSet`.

``VISIBILITY_RULES`` names the file; unset, the shipped ``default_rules.yaml`` applies
(it documents every field). Two kinds of rule exist:

* ``price_mismatch``: two teams' prices, or a team's price and the inventory's, are
  further apart than ``threshold_percent``, measured against the lower of the two
  (see :func:`percent_apart`);
* ``inventory_contradiction``: a team shows ``in_stock`` or ``limited`` while the
  inventory has 0 on hand, or ``out_of_stock`` while it has ``plenty_on_hand`` or more.

Each rule carries who answers for it (first responder, decision authority) and its
escalation steps, each ``after`` the previous one (the first after detection).

A bad file raises :class:`RulesError` listing every problem with the field's path, e.g.
``rules[0].threshold_percent: Input should be greater than 0``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from holyfields import ValidationIssue

__all__ = [
    "DEFAULT_RULES",
    "EscalationLevel",
    "EscalationStep",
    "InventoryContradictionRule",
    "PriceMismatchRule",
    "Rule",
    "RuleSet",
    "RulesError",
    "Severity",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "percent_apart",
]

DEFAULT_RULES = "default_rules.yaml"
"""The rules file shipped inside the package."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"


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


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationStep(_Frozen):
    """Escalate to ``to`` at ``level`` when still unresolved ``after`` the previous step (or the detection)."""

    after: Duration
    level: EscalationLevel
    to: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _after_positive(self) -> EscalationStep:
        _positive(self.after)
        return self


class _RuleBase(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    version: int = Field(ge=1)
    description: str = ""
    severity: Severity
    first_responder: str = Field(min_length=1, max_length=128)
    decision_authority: str = Field(min_length=1, max_length=128)
    escalation: tuple[EscalationStep, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_in_order(self) -> _RuleBase:
        levels = [step.level for step in self.escalation]
        if levels != sorted(levels, key=list(EscalationLevel).index) or len(set(levels)) != len(levels):
            raise ValueError("escalation steps go to the decision_authority first, then the executive, each once")
        return self


class PriceMismatchRule(_RuleBase):
    """Prices further apart than ``threshold_percent`` (of the lower one): team against team, or against the truth."""

    kind: Literal["price_mismatch"]
    threshold_percent: float = Field(gt=0, le=1000)
    compare: tuple[Literal["teams", "truth"], ...] = Field(default=("teams", "truth"), min_length=1)


class InventoryContradictionRule(_RuleBase):
    """Availability shown against the inventory's units on hand."""

    kind: Literal["inventory_contradiction"]
    plenty_on_hand: int = Field(
        default=10, ge=1, description="on hand at or above which showing out_of_stock contradicts the truth"
    )


Rule = Annotated[PriceMismatchRule | InventoryContradictionRule, Field(discriminator="kind")]


class Windows(_Frozen):
    """How long observations count: a team's latest offer, and a snapshot as the truth."""

    offer: Duration = timedelta(minutes=15)
    truth: Duration = timedelta(minutes=10)

    @model_validator(mode="after")
    def _positive_windows(self) -> Windows:
        _positive(self.offer)
        _positive(self.truth)
        return self


class RuleSet(_Frozen):
    """Every rule of one file, and the windows they share."""

    version: Literal[1] = 1
    windows: Windows = Windows()
    rules: tuple[Rule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; each rule needs its own id")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> PriceMismatchRule | InventoryContradictionRule:
        """The rule with ``rule_id``; KeyError when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"no rule {rule_id!r}; the rules are {', '.join(r.id for r in self.rules)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)


def percent_apart(a: float, b: float) -> float:
    """How far apart two prices are, in percent of the lower one (``inf`` when only the lower is 0)."""
    low, high = (a, b) if a <= b else (b, a)
    if high == low:
        return 0.0
    if low <= 0:
        return float("inf")
    return (high - low) / low * 100.0


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"price_mismatch", "inventory_contradiction"}:
            continue  # the discriminator's branch, not a field
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_rules(data: Any, *, source: str = "<rules>") -> RuleSet:
    """Validate already-parsed YAML; raises :class:`RulesError` naming every bad field."""
    if not isinstance(data, dict):
        raise RulesError(source, [ValidationIssue("", f"expected a mapping with `rules`, got {type(data).__name__}")])
    try:
        return RuleSet.model_validate(data)
    except pydantic.ValidationError as exc:
        issues = [
            ValidationIssue(_path(tuple(error["loc"])), str(error["msg"]).removeprefix("Value error, "))
            for error in exc.errors()
        ]
        raise RulesError(source, issues) from exc


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules of the YAML file at ``path``; None: the shipped default rules."""
    if path is None:
        text = resources.files("visibility").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
        source = f"visibility/{DEFAULT_RULES}"
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(source, [ValidationIssue("", f"cannot read the file: {exc.strerror or exc}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise RulesError(source, [ValidationIssue(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    return parse_rules(data, source=source)
