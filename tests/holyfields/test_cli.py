"""`holyfields validate FILE…` and `holyfields list` from the shell's point of view."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from holyfields import default_catalog
from holyfields.cli import app
from tests.holyfields.test_validation import VALID, event

runner = CliRunner()


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_valid_event_file_passes(tmp_path: Path) -> None:
    """A valid event file is reported valid and the command exits 0."""
    good = write(tmp_path, "good.json", json.dumps(VALID))
    result = runner.invoke(app, ["validate", good])
    assert result.exit_code == 0
    assert result.output == f"{good}: valid\n"


def test_each_problem_is_one_line_with_file_and_path(tmp_path: Path) -> None:
    """Every problem of every file is printed as `file: $.path: message` and the command exits 1."""
    bad = write(tmp_path, "bad.json", json.dumps(event(event_id="x", timestamp="2026-11-02")))
    broken = write(tmp_path, "broken.json", "{not json")
    good = write(tmp_path, "good.json", json.dumps(VALID))
    result = runner.invoke(app, ["validate", bad, broken, good])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{bad}: $.event_id: 'x' is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')",
        f"{bad}: $.timestamp: '2026-11-02' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'",
        f"{broken}: $: not valid JSON: JSON is malformed: object keys must be strings (byte 1)",
        f"{good}: valid",
    ]


def test_unreadable_file_is_answered_without_a_traceback(tmp_path: Path) -> None:
    """A file that does not exist is reported in one line and the command exits 1."""
    missing = str(tmp_path / "missing.json")
    result = runner.invoke(app, ["validate", missing])
    assert result.exit_code == 1
    assert result.output == f"{missing}: cannot read: No such file or directory\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_events_can_come_from_stdin() -> None:
    """`-` reads one event from standard input."""
    result = runner.invoke(app, ["validate", "-"], input=json.dumps(event(version="1")))
    assert result.exit_code == 1
    assert result.output.startswith("<stdin>: $.version: '1' does not match the pattern")


def test_list_prints_the_catalog_as_json() -> None:
    """`holyfields list --json` prints type, version, owner and status of every event type."""
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["event_type"] for r in rows] == default_catalog().event_types
    assert set(rows[0]) == {"event_type", "version", "owner", "status"}
