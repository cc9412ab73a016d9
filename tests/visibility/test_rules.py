"""Loading the rules file: the shipped default, and clear errors naming the field at fault."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from visibility.rules import (
    EscalationLevel,
    InventoryContradictionRule,
    PriceMismatchRule,
    RulesError,
    load_rules,
    parse_duration,
    percent_apart,
)

VALID = """
version: 1
windows: {offer: 10m, truth: 5m}
rules:
  - id: price_mismatch
    kind: price_mismatch
    version: 3
    severity: medium
    threshold_percent: 7.5
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


def test_the_shipped_default_has_both_rules_of_the_proposal():
    """The default rules are a 5 % price mismatch and the inventory contradiction, each escalating 24 h then 48 h."""
    rules = load_rules()
    price, inventory = rules.rule("price_mismatch"), rules.rule("inventory_contradiction")
    assert isinstance(price, PriceMismatchRule)
    assert price.threshold_percent == 5
    assert set(price.compare) == {"teams", "truth"}
    assert isinstance(inventory, InventoryContradictionRule)
    assert inventory.decision_authority == "delivery"
    for rule in (price, inventory):
        assert [(s.after, s.level) for s in rule.escalation] == [
            (timedelta(hours=24), EscalationLevel.DECISION_AUTHORITY),
            (timedelta(hours=48), EscalationLevel.EXECUTIVE),
        ]
    assert rules.windows.offer == timedelta(minutes=15)
    assert rules.windows.truth == timedelta(minutes=10)


def test_a_custom_file_is_read_with_its_durations(tmp_path):
    """Durations in ms/s/m/h/d and the other fields come from the file."""
    rules = load_rules(write(tmp_path, VALID))
    rule = rules.rule("price_mismatch")
    assert rule.version == 3
    assert rule.escalation[1].after == timedelta(seconds=1.5)
    assert rules.windows.truth == timedelta(minutes=5)
    assert rules.ids == ("price_mismatch",)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (("threshold_percent: 7.5", "threshold_percent: -1"), "rules[0].threshold_percent", "greater than 0"),
        (("severity: medium", "severity: urgent"), "rules[0].severity", "'low', 'medium', 'high' or 'critical'"),
        (("kind: price_mismatch", "kind: screen_space"), "rules[0]", "does not match any of the expected tags"),
        (("{after: 2s,", "{after: soon,"), "rules[0].escalation[0].after", "expected a duration such as"),
        (("    version: 3\n", ""), "rules[0].version", "Field required"),
        (("first_responder:", "first_responders:"), "rules[0].first_responders", "Extra inputs are not permitted"),
        (("windows: {offer: 10m", "windows: {offer: 0s"), "windows", "must be longer than zero"),
    ],
)
def test_an_invalid_file_names_the_field(tmp_path, change, path, message):
    """Each problem is reported with the path of its field and what is wrong."""
    with pytest.raises(RulesError) as caught:
        load_rules(write(tmp_path, VALID.replace(*change)))
    assert any(issue.path == path and message in issue.message for issue in caught.value.issues), caught.value.issues
    assert str(caught.value).startswith(f"invalid rules in {tmp_path / 'rules.yaml'}: ")


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
    """Durations parse from short strings; prices are compared in percent of the lower one."""
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration(90) == timedelta(seconds=90)
    assert percent_apart(39.98, 44.97) == pytest.approx(12.481, abs=0.001)
    assert percent_apart(44.97, 39.98) == percent_apart(39.98, 44.97)
    assert percent_apart(5.0, 5.0) == 0.0
    assert percent_apart(0.0, 1.0) == float("inf")
