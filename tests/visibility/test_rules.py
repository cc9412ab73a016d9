"""The rule language: the shipped default, every form of comparison, and clear errors naming the field at fault."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from visibility.domain.detection import DetectionEngine
from visibility.rules import (
    Alert,
    EscalationLevel,
    RulesError,
    Scope,
    load_rules,
    parse_duration,
    parse_rules,
    percent_apart,
)

from .retail import check, offer, snapshot

VALID = """
version: 2
sources:
  offer: {event_type: retail.offer.surfaced.v1, team: team, at: surfaced_at, customer_facing: customer_facing}
  inventory: {event_type: retail.inventory.snapshot.v1, at: as_of, each: items}
rules:
  - id: price_mismatch
    version: 3
    severity: medium
    entity: [product_id, store_id]
    observe: offer
    truth: inventory
    scope: [teams, truth]
    compare: {field: price, same: [currency], relative_difference_above: 7.5}
    window: 10m
    staleness: 5m
    routing:
      first_responder: pricing-team
      decision_authority: vp-data-science
      escalation:
        - {after: 2s, level: decision_authority, to: vp-data-science}
        - {after: 1.5s, level: executive, to: evp-digital}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def with_rule(**changes: object) -> dict[str, object]:
    """VALID parsed, its rule changed (a value of None removes the field)."""
    data: dict[str, Any] = yaml.safe_load(VALID)
    rule = data["rules"][0]
    for name, value in changes.items():
        if value is None:
            rule.pop(name, None)
        else:
            rule[name] = value
    return data


def test_the_shipped_default_has_the_three_streaming_rules_of_the_matrix():
    """Price mismatch (5 %), inventory contradiction and screen space, each routed as the decision matrix says."""
    rules = load_rules()
    assert rules.ids == ("price_mismatch", "inventory_contradiction", "screen_space")
    price, inventory, screen = (rules.rule(rule_id) for rule_id in rules.ids)
    assert (price.compare.relative_difference_above, price.scope) == (5, (Scope.TEAMS, Scope.TRUTH))
    assert price.routing.first_responder == "pricing-team"
    assert inventory.decision_authority == "delivery"
    assert [line.shown for line in inventory.compare.contradiction or ()] == [
        ("in_stock", "limited"),
        ("out_of_stock",),
    ]
    assert (screen.compare.form, screen.routing.alert) == ("exclusive", Alert.DASHBOARD)
    assert (screen.first_responder, screen.decision_authority) == ("page-owner", "vp-online")
    for rule in (price, inventory, screen):
        assert [(s.after, s.level) for s in rule.escalation] == [
            (timedelta(hours=24), EscalationLevel.DECISION_AUTHORITY),
            (timedelta(hours=48), EscalationLevel.EXECUTIVE),
        ]
    assert (price.window, price.staleness) == (timedelta(minutes=15), timedelta(minutes=10))
    assert rules.event_types == {
        "retail.offer.surfaced.v1", "retail.inventory.snapshot.v1", "retail.placement.rendered.v1"
    }  # fmt: skip


def test_a_custom_file_is_read_with_its_durations(tmp_path):
    """Durations in ms/s/m/h/d and the other fields come from the file."""
    rules = load_rules(write(tmp_path, VALID))
    rule = rules.rule("price_mismatch")
    assert rule.version == 3
    assert rule.escalation[1].after == timedelta(seconds=1.5)
    assert (rule.window, rule.staleness) == (timedelta(minutes=10), timedelta(minutes=5))
    assert rule.routing.alert is Alert.SLACK
    assert rules.ids == ("price_mismatch",)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (("relative_difference_above: 7.5", "relative_difference_above: -1"),
         "rules[0].compare.relative_difference_above", "greater than 0"),
        (("severity: medium", "severity: urgent"), "rules[0].severity", "'low', 'medium', 'high' or 'critical'"),
        (("{after: 2s,", "{after: soon,"), "rules[0].routing.escalation[0].after", "expected a duration such as"),
        (("    version: 3\n", ""), "rules[0].version", "Field required"),
        (("first_responder:", "first_responders:"), "rules[0].routing.first_responders", "Extra inputs are not"),
        (("window: 10m", "window: 0s"), "rules[0]", "must be longer than zero"),
        (("entity: [product_id, store_id]", "entity: [product_id, aisle]"), "rules[0].entity[1]",
         "source 'offer' has no field 'aisle'"),
        (("field: price,", "field: prise,"), "rules[0].compare.field", "source 'offer' has no field 'prise'"),
        (("same: [currency]", "same: [colour]"), "rules[0].compare.same[0]", "has no field 'colour'"),
        (("observe: offer", "observe: offers"), "rules[0].observe", "no source 'offers'; the sources are"),
        (("observe: offer", "observe: inventory"), "rules[0].observe", "names no team: it can only be a truth"),
        (("truth: inventory", "truth: offer"), "rules[0].truth", "names a team: a truth has none"),
        (("retail.offer.surfaced.v1", "retail.offer.shown.v1"), "sources.offer.event_type",
         "no event type 'retail.offer.shown.v1' is registered"),
        (("at: as_of", "at: when"), "sources.inventory.at", "has no field 'when'"),
        (("each: items", "each: store_id"), "sources.inventory.each", "is not a list of objects"),
        (("scope: [teams, truth]", "scope: [teams, teams]"), "rules[0]", "at most once each"),
        (("scope: [teams, truth]", "scope: [everyone]"), "rules[0].scope[0]", "'teams' or 'truth'"),
        (("    truth: inventory\n", ""), "rules[0]", "scope truth needs a `truth` source"),
    ],
)  # fmt: skip
def test_an_invalid_file_names_the_field(tmp_path, change, path, message):
    """Each problem is reported with the path of its field and what is wrong."""
    assert change[0] in VALID
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, VALID.replace(*change)))
    assert any(issue.path == path and message in issue.message for issue in caught.value.issues), caught.value.issues
    assert str(caught.value).startswith(f"invalid rules in {tmp_path / 'rules.yaml'}: ")


@pytest.mark.parametrize(
    ("compare", "scope", "message"),
    [
        ({"field": "price"}, ["teams"], "give exactly one of relative_difference_above, different"),
        ({"field": "price", "different": True, "relative_difference_above": 3}, ["teams"], "got relative_difference"),
        ({"different": True}, ["teams"], "different compares a field: give `field`"),
        ({"exclusive": True, "field": "price"}, ["teams"], "exclusive compares no field"),
        ({"exclusive": True}, ["teams", "truth"], "exclusive compares teams with each other: scope [teams]"),
        (
            {
                "field": "availability",
                "truth_field": "on_hand",
                "contradiction": [{"shown": ["in_stock"], "truth": {}}],
            },
            ["truth"],
            "give at_most, at_least or equals",
        ),
        (
            {"field": "availability", "contradiction": [{"shown": ["in_stock"], "truth": {"at_most": 0}}]},
            ["teams", "truth"],
            "a contradiction table compares with the truth: scope [truth]",
        ),
    ],
)
def test_each_comparison_is_checked_for_its_form(compare, scope, message):
    """Exactly one form per rule, with what that form needs and the scope it works in."""
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rules(with_rule(compare=compare, scope=scope))


def test_different_compares_equality_between_teams():
    """``different``: two teams showing other values of a field is a conflict; the same value is none."""
    rules = parse_rules(with_rule(compare={"field": "availability", "different": True}, scope=["teams"], truth=None))
    engine = DetectionEngine(rules)
    check(engine, offer("magic-apron", availability="in_stock"))
    assert check(engine, offer("recs-search", availability="in_stock", seconds=1)) == []
    first, second = check(engine, offer("sponsored", availability="out_of_stock", seconds=2))
    assert {first.teams, second.teams} == {("magic-apron", "sponsored"), ("recs-search", "sponsored")}
    finding = first if first.teams[0] == "magic-apron" else second
    assert finding.summary == (
        "sponsored showed out of stock for product_id p1, store_id s1 while magic-apron showed in stock."
    )


def test_a_contradiction_table_can_compare_any_truth_field():
    """A contradiction line on another field and bound: a price shown while the truth's price is below a bound."""
    contradiction = [{"shown": ["limited"], "truth": {"at_least": 100}}]
    rules = parse_rules(
        with_rule(compare={"field": "availability", "truth_field": "on_hand", "contradiction": contradiction},
                  scope=["truth"], label="item {product_id}")
    )  # fmt: skip
    engine = DetectionEngine(rules)
    check(engine, snapshot(items={"p1": (150, 10.0), "p2": (99, 10.0)}))
    [finding] = check(engine, offer("magic-apron", availability="limited", seconds=1))
    assert (finding.measured, finding.threshold) == (150.0, 100.0)
    assert "for item p1, but the inventory's on hand is 150" in finding.summary
    assert check(engine, offer("magic-apron", product="p2", availability="limited", seconds=1)) == []
    assert check(engine, offer("sponsored", availability="in_stock", seconds=2)) == []  # in no line: nothing to verify
    assert engine.counts.unverifiable == {}


@pytest.mark.parametrize(
    "label", ["product {sku}", "{product_id.__class__}", "{product_id:>99999999}", "{store_id!r}", "{"]
)
def test_a_label_may_only_name_entity_fields(label):
    """The summary's name of the entity is checked when the file is read: plain entity fields, nothing else."""
    with pytest.raises(RulesError, match="label may only name the entity's fields"):
        parse_rules(with_rule(label=label))


def test_version_1_files_are_refused_with_where_to_look(tmp_path):
    """A version 1 file (fixed rule kinds) is not guessed at: the error says where the version 2 form is."""
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, "version: 1\nrules: []\n"))
    assert caught.value.issues[0].path == "version"
    assert "docs/runbooks/visibility.md" in caught.value.issues[0].message


def test_escalation_steps_must_go_upwards(tmp_path):
    """The executive cannot come before the decision authority."""
    text = VALID.replace("level: decision_authority", "level: tmp").replace(
        "level: executive", "level: decision_authority"
    )
    text = text.replace("level: tmp", "level: executive")
    with pytest.raises(RulesError, match="decision_authority first, then the executive"):
        load_rules(write(tmp_path, text))


def test_duplicate_rule_ids_are_refused(tmp_path):
    """Two rules with one id would make conflicts ambiguous."""
    rule = VALID.split("rules:\n", 1)[1]
    with pytest.raises(RulesError, match="rule id 'price_mismatch' is used twice"):
        load_rules(write(tmp_path, VALID + rule))


def test_broken_yaml_and_missing_files_are_rules_errors(tmp_path):
    """Unreadable or unparsable files raise RulesError, with the line for YAML errors."""
    with pytest.raises(RulesError, match="cannot read the file"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, "rules: [\n  - {id: x\n"))
    assert caught.value.issues[0].path.startswith("line ")
    with pytest.raises(RulesError, match="expected a mapping with `rules`"):
        load_rules(write(tmp_path, "- just a list\n"))


def test_durations_and_percentages():
    """Durations parse from short strings; values are compared in percent of the lower one."""
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(90) == timedelta(seconds=90)
    assert percent_apart(39.98, 44.97) == pytest.approx(12.481, abs=0.001)
    assert percent_apart(44.97, 39.98) == percent_apart(39.98, 44.97)
    assert percent_apart(5.0, 5.0) == 0.0
    assert percent_apart(0.0, 1.0) == float("inf")
