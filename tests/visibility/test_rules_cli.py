"""`visibility rules check / test`, and a rules file changed while running: applied when valid, refused when not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter
from typer.testing import CliRunner

from bloodbank import build_envelope
from visibility.cli.app import app
from visibility.domain.records import ConflictRecord
from visibility.rules import DEFAULT_RULES, RuleSet
from visibility.rules_watch import RulesWatcher
from visibility.service import VisibilityService
from visibility.store import ConflictFilter

from .retail import PLACEMENT_TYPE, SOURCE, offer_event, placement_payload, snapshot_event
from .service_helpers import eventually, running_service, started_bus, visibility_settings

DEFAULT = Path(__file__).resolve().parents[2] / "visibility" / DEFAULT_RULES
runner = CliRunner()


def write_events(path: Path, *events: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(msgspec.json.encode(event) + b"\n" for event in events))
    return path


def placement_event(team: str, **options: Any) -> dict[str, Any]:
    return build_envelope(PLACEMENT_TYPE, placement_payload(team, **options), source=SOURCE, correlation_ids=[])


def test_rules_test_shows_each_conflict_once_with_its_line(tmp_path):
    """Every rule form on sample events: the first opening of each conflict, previews and redeliveries counted."""
    repeated = offer_event("sponsored", price=12.0, seconds=6)
    events = write_events(
        tmp_path / "sample.jsonl",
        snapshot_event(items={"p1": (0, 10.0)}),
        offer_event("magic-apron", availability="in_stock", seconds=5),
        repeated,
        repeated,
        offer_event("recs-search", price=30.0, seconds=7, customer_facing=False),
        placement_event("sponsored"),
        placement_event("recs-search", seconds=30),
    )
    result = runner.invoke(app, ["rules", "test", str(DEFAULT), "--events", str(events), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    opened = [(item["line"], item["rule"], item["teams"]) for item in report["conflicts"]]
    assert opened == [
        (2, "inventory_contradiction", ["magic-apron"]),
        (3, "price_mismatch", ["magic-apron", "sponsored"]),
        (3, "price_mismatch", ["sponsored"]),
        (3, "inventory_contradiction", ["sponsored"]),
        (7, "screen_space", ["recs-search", "sponsored"]),
    ]
    assert report["counts"] == {
        "events": 5, "previews": 1, "ignored": 0, "conflicting": 3, "unverifiable": {}
    }  # fmt: skip
    table = runner.invoke(app, ["rules", "test", str(DEFAULT), "--events", str(events)])
    assert "5 conflict(s) would open" in table.output


def test_rules_test_names_bad_lines_and_bad_rules(tmp_path):
    """An event that is not JSON or not valid names its line; a bad rules file names its field; both exit 1."""
    events = tmp_path / "bad.jsonl"
    events.write_text('{"nope"\n' + json.dumps({**offer_event(), "payload": {"team": "x"}}) + "\n")
    result = runner.invoke(app, ["rules", "test", str(DEFAULT), "--events", str(events)])
    assert result.exit_code == 1
    assert f"{events}:1: not JSON" in result.output
    assert f"{events}:2: $.payload" in result.output
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT.read_text().replace("relative_difference_above: 5", "relative_difference_above: -5"))
    checked = runner.invoke(app, ["rules", "check", str(rules)])
    assert checked.exit_code == 1
    assert "rules[0].compare.relative_difference_above: Input should be greater than 0" in checked.output
    assert runner.invoke(app, ["rules", "check", str(DEFAULT)]).exit_code == 0


def test_a_changed_rules_file_is_applied_when_valid_and_refused_when_not(tmp_path):
    """The watcher hands over each valid change once; an invalid one leaves the rules in force and is counted."""
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT.read_text())
    applied: list[RuleSet] = []
    reloads = Counter("reloads", "test", ["outcome"], registry=CollectorRegistry())
    watcher = RulesWatcher(path, applied.append, reloads=reloads)
    assert watcher.check() is None  # unchanged
    path.write_text(DEFAULT.read_text().replace("relative_difference_above: 5", "relative_difference_above: 8"))
    assert watcher.check() is True
    assert applied[-1].rule("price_mismatch").compare.relative_difference_above == 8
    assert watcher.check() is None
    path.write_text("version: 2\nrules: []\n")
    assert watcher.check() is False
    assert len(applied) == 1
    path.unlink()
    assert watcher.check() is None  # gone for a moment (an editor's rename): looked at again later
    assert reloads.labels("applied")._value.get() == 1
    assert reloads.labels("refused")._value.get() == 1


async def test_the_running_service_detects_with_a_changed_rules_file(tmp_path, sqlite_database):
    """A threshold changed in the file applies to the next events, no restart; an invalid change changes nothing."""
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT.read_text().replace("relative_difference_above: 5", "relative_difference_above: 50"))
    settings = visibility_settings(sqlite_database, tmp_path, rules=path, rules_check_interval=0.05)
    async with started_bus(tmp_path) as bus, running_service(settings, bus) as service:
        await bus.publisher.publish_envelope(offer_event("magic-apron", price=10.0, availability="unknown"))
        await bus.publisher.publish_envelope(offer_event("sponsored", price=12.0, availability="unknown", seconds=1))
        await eventually(lambda: _checked(service, 2), what="both offers checked")
        assert (await service.store.conflicts(ConflictFilter())).items == []
        path.write_text(DEFAULT.read_text())  # back to 5 %
        await eventually(lambda: _reloaded(service, "applied", 1), what="the change applied")
        path.write_text("version: 2\n")
        await eventually(lambda: _reloaded(service, "refused", 1), what="the invalid change refused")
        await bus.publisher.publish_envelope(offer_event("recs-search", price=12.0, availability="unknown", seconds=2))
        [conflict] = await eventually(lambda: _conflicts(service), what="the conflict under the 5 % threshold")
        assert conflict.teams == ("magic-apron", "recs-search")
        assert service.detector.rules.rule("price_mismatch").compare.relative_difference_above == 5


async def _checked(service: VisibilityService, events: int) -> bool:
    value = service.metrics.registry.get_sample_value(
        "visibility_events_total", {"event_type": "retail.offer.surfaced.v1"}
    )
    return (value or 0) >= events


async def _reloaded(service: VisibilityService, outcome: str, count: int) -> bool:
    value = service.metrics.registry.get_sample_value("visibility_rules_reloads_total", {"outcome": outcome})
    return (value or 0) >= count


async def _conflicts(service: VisibilityService) -> list[ConflictRecord]:
    return (await service.store.conflicts(ConflictFilter())).items
