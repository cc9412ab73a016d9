"""Whether each rule's conflicts hold up: the share of its resolutions that disputed it, and what to change.

The seed's rollback plan loosens a rule's thresholds when its false positives pass 20 %.
Here a rule is **flagged** when, over its ``false_positives.window``, at least
``min_resolved`` of its conflicts were resolved and more than ``max_disputed_share`` percent
of those resolutions were disputes. A flagged rule comes with a **suggestion** read from
the disputed conflicts' own measurements: for a threshold (a relative difference, or the
``at_least`` bound of a contradiction line), the value that would have left out four in
five of them; for a rule without a number to move, a sentence on what to narrow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visibility.rules import Rule

__all__ = ["RuleHealth", "RuleOutcomes", "judge_rule"]

SUGGESTION_QUANTILE = 0.8
"""Share of the disputed conflicts a suggested threshold would have left out."""


@dataclass(frozen=True, slots=True)
class RuleOutcomes:
    """How one rule's conflicts were resolved in its window, and what the disputed ones measured."""

    resolved: int
    disputed: int
    disputed_measured: Sequence[float]


@dataclass(frozen=True, slots=True)
class RuleHealth:
    """One rule's disputed share, whether it is flagged, and the suggested change."""

    rule: str
    resolved: int
    disputed: int
    disputed_share_percent: float | None
    max_disputed_share_percent: float
    flagged: bool
    suggestion: str | None
    suggested_threshold: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "resolved": self.resolved,
            "disputed": self.disputed,
            "disputed_share_percent": self.disputed_share_percent,
            "max_disputed_share_percent": self.max_disputed_share_percent,
            "flagged": self.flagged,
            "suggestion": self.suggestion,
            "suggested_threshold": self.suggested_threshold,
        }


def judge_rule(rule: Rule, outcomes: RuleOutcomes) -> RuleHealth:
    """The health of ``rule`` from its resolutions (see the module docstring)."""
    control = rule.false_positives
    share = round(outcomes.disputed / outcomes.resolved * 100.0, 2) if outcomes.resolved else None
    flagged = outcomes.resolved >= control.min_resolved and share is not None and share > control.max_disputed_share
    suggestion, threshold = _suggest(rule, outcomes.disputed_measured) if flagged else (None, None)
    return RuleHealth(
        rule=rule.id,
        resolved=outcomes.resolved,
        disputed=outcomes.disputed,
        disputed_share_percent=share,
        max_disputed_share_percent=control.max_disputed_share,
        flagged=flagged,
        suggestion=suggestion,
        suggested_threshold=threshold,
    )


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _suggest(rule: Rule, measured: Sequence[float]) -> tuple[str, float | None]:
    compare = rule.compare
    finite = [value for value in measured if math.isfinite(value)]
    typical = _quantile(finite, SUGGESTION_QUANTILE) if finite else None
    if compare.relative_difference_above is not None and typical is not None:
        proposed = max(compare.relative_difference_above, math.ceil(typical * 2) / 2)
        text = (
            f"disputed conflicts were at most {typical:.1f} % apart in four cases of five: "
            f"raise relative_difference_above from {compare.relative_difference_above:g} to {proposed:g}"
        )
        return text, proposed
    bounds = [line.truth.at_least for line in compare.contradiction or () if line.truth.at_least is not None]
    above = [value for value in finite if bounds and value >= min(bounds)]  # the disputes a bound decided
    if above:
        current = min(bounds)
        typical = _quantile(above, SUGGESTION_QUANTILE)
        proposed = float(max(current, math.floor(typical) + 1))
        text = (
            f"disputed contradictions had at most {typical:g} {compare.against} in four cases of five: "
            f"raise at_least from {current:g} to {proposed:g}"
        )
        return text, proposed
    text = (
        f"no threshold to move: narrow the entity ({', '.join(rule.entity)}) or shorten the window "
        f"({rule.window}) of {rule.id}, or add a `same` field that tells the disputed cases apart"
    )
    return text, None


def measured_of(details: Mapping[str, Any]) -> float | None:
    """The measured value a conflict's details carry (None for one without a number)."""
    value = details.get("measured")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
