"""``GET /rules``: the rules in force (after any change of the file), and whether each one's conflicts hold up.

Each rule comes with its definition as the detector compiled it and its false-positive
health (:mod:`visibility.domain.rule_health`): the share of its resolutions that were
disputes over its window, flagged past its limit with a suggested change, as the seed's
rollback plan asks (loosen a rule whose false positives pass 20 %).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from gumdrop.access_control import requires
from gumdrop.principals import Scope as AccessScope
from visibility.api.errors import error_responses
from visibility.api.params import only_query
from visibility.domain.rule_health import RuleHealth
from visibility.rules import Alert, EscalationLevel, Rule, RuleSet, Scope, Severity
from visibility.store import VisibilityStore

__all__ = ["RuleHealthModel", "RuleModel", "RulesModel", "rule_routes"]


class StepModel(BaseModel):
    after_seconds: float = Field(description="seconds after the previous step (or the detection)")
    level: EscalationLevel
    to: str


class RuleHealthModel(BaseModel):
    """How the rule's conflicts were resolved over its false-positive window."""

    resolved: int = Field(description="conflicts of the rule resolved in the window (fixed, accepted or disputed)")
    disputed: int = Field(description="of those, disputed as false positives")
    disputed_share_percent: float | None = Field(description="disputed in percent of resolved; null: none resolved")
    max_disputed_share_percent: float = Field(description="the share past which the rule is flagged")
    window_seconds: float = Field(description="how far back resolutions count")
    flagged: bool = Field(description="enough resolutions, and the disputed share past its limit")
    suggestion: str | None = Field(description="what to change, read from the disputed conflicts; null unless flagged")
    suggested_threshold: float | None = Field(description="the threshold the suggestion proposes, when it has one")

    @classmethod
    def of(cls, health: RuleHealth, rule: Rule) -> RuleHealthModel:
        return cls(
            resolved=health.resolved,
            disputed=health.disputed,
            disputed_share_percent=health.disputed_share_percent,
            max_disputed_share_percent=health.max_disputed_share_percent,
            window_seconds=rule.false_positives.window.total_seconds(),
            flagged=health.flagged,
            suggestion=health.suggestion,
            suggested_threshold=health.suggested_threshold,
        )


class RuleModel(BaseModel):
    """One rule of the file in force."""

    id: str
    version: int
    description: str
    severity: Severity
    comparison: str = Field(description="relative_difference_above, different, contradiction or exclusive")
    entity: list[str] = Field(description="the payload fields the rule compares on")
    observe: str = Field(description="the source of the teams' observations")
    truth: str | None = Field(description="the source of the truth, for scope truth")
    scope: list[Scope]
    window_seconds: float
    staleness_seconds: float
    first_responder: str
    decision_authority: str
    alert: Alert
    escalation: list[StepModel]
    health: RuleHealthModel

    @classmethod
    def of(cls, rule: Rule, health: RuleHealth) -> RuleModel:
        return cls(
            id=rule.id,
            version=rule.version,
            description=rule.description,
            severity=rule.severity,
            comparison=rule.compare.form,
            entity=list(rule.entity),
            observe=rule.observe,
            truth=rule.truth,
            scope=list(rule.scope),
            window_seconds=rule.window.total_seconds(),
            staleness_seconds=rule.staleness.total_seconds(),
            first_responder=rule.first_responder,
            decision_authority=rule.decision_authority,
            alert=rule.routing.alert,
            escalation=[
                StepModel(after_seconds=step.after.total_seconds(), level=step.level, to=step.to)
                for step in rule.escalation
            ],
            health=RuleHealthModel.of(health, rule),
        )


class RulesModel(BaseModel):
    rules: list[RuleModel]
    flagged: list[str] = Field(description="ids of the rules whose disputed share is past its limit")


def rule_routes(
    store: VisibilityStore, rules: Callable[[], RuleSet], *, now: Callable[[], datetime] | None = None
) -> APIRouter:
    router = APIRouter(tags=["rules"], dependencies=[requires(AccessScope.READ)])
    clock = now or (lambda: datetime.now(UTC))

    @router.get(
        "/rules",
        summary="The rules in force, each with its disputed share and a suggested change when flagged",
        operation_id="listRules",
        response_model=RulesModel,
        responses=error_responses(422, 503),
        dependencies=[Depends(only_query())],
    )
    async def list_rules() -> RulesModel:
        current = rules()
        health = await store.rule_health(current.rules, now=clock())
        models = [RuleModel.of(rule, judged) for rule, judged in zip(current.rules, health, strict=True)]
        return RulesModel(rules=models, flagged=[model.id for model in models if model.health.flagged])

    return router
