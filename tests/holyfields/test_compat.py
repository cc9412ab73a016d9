"""Classifying schema changes (report 8.1.2) and checking that ``x-version`` and file versions follow them.

Each case copies the packaged schema tree twice, as the old and the new tree, and edits the new one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from typer.testing import CliRunner

from holyfields.catalog import default_schema_root
from holyfields.cli import app
from holyfields.compat import ChangeLevel, CompatReport, SchemaDiff, compare_directories, compare_with_git_ref

OFFER = "retail/offer.surfaced.v1.schema.json"
OFFER_V2 = "retail/offer.surfaced.v2.schema.json"
BREAKING_INSIDE_V1 = (
    "breaking change inside v1: keep this file compatible and publish the change as a new event type in "
    f"{OFFER_V2} (x-version 2.0.0), dual-publishing during the migration"
)

Schema = dict[str, Any]


class SchemaTrees(NamedTuple):
    old: Path
    new: Path


@pytest.fixture
def trees(tmp_path: Path) -> SchemaTrees:
    """Two private copies of the packaged schemas: the old tree and the new one a test edits."""
    pair = SchemaTrees(tmp_path / "old", tmp_path / "new")
    for root in pair:
        shutil.copytree(default_schema_root(), root)
    return pair


@contextmanager
def edited(root: Path, relative: str) -> Iterator[Schema]:
    """Load the schema at ``root/relative``, let the caller change it, and save it back."""
    file = root / relative
    with file.open(encoding="utf-8") as handle:
        schema: Schema = json.load(handle)
    yield schema
    with file.open("w", encoding="utf-8") as handle:
        json.dump(schema, handle, indent=2)


def diff_of(report: CompatReport, file: str) -> SchemaDiff:
    """The one diff of ``file`` in ``report``, after checking every other schema is unchanged and fine."""
    others = [d for d in report.diffs if d.file != file and (d.status != "unchanged" or d.problems)]
    assert others == []
    (diff,) = (d for d in report.diffs if d.file == file)
    return diff


def run_diff(*args: str) -> tuple[int, str]:
    """Exit code and stdout of ``holyfields diff ARGS``."""
    result = CliRunner().invoke(app, ["diff", *args])
    return result.exit_code, result.stdout


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def edit_description(schema: Schema) -> None:
    schema["description"] += " Also sent on reminders."


def edit_example(schema: Schema) -> None:
    schema["examples"][0]["price"] = 41.5


def add_optional_field(schema: Schema) -> None:
    schema["properties"]["aisle"] = {"type": "string", "description": "Aisle the product is in."}


def add_required_field(schema: Schema) -> None:
    add_optional_field(schema)
    schema["required"].append("aisle")


def remove_field(schema: Schema) -> None:
    del schema["properties"]["channel"]


def rename_field(schema: Schema) -> None:
    schema["properties"]["amount"] = schema["properties"].pop("price")
    schema["required"] = ["amount" if name == "price" else name for name in schema["required"]]


def change_type(schema: Schema) -> None:
    schema["properties"]["quantity"]["type"] = "string"


def narrow_enum(schema: Schema) -> None:
    schema["properties"]["channel"]["enum"].remove("voice")


def widen_enum(schema: Schema) -> None:
    schema["properties"]["channel"]["enum"].append("kiosk")


def lower_max_length(schema: Schema) -> None:
    schema["properties"]["team"]["maxLength"] = 32


def raise_max_length(schema: Schema) -> None:
    schema["properties"]["team"]["maxLength"] = 128


def raise_minimum(schema: Schema) -> None:
    schema["properties"]["price"]["minimum"] = 1


def lower_minimum(schema: Schema) -> None:
    schema["properties"]["price"]["minimum"] = -1


def add_pattern(schema: Schema) -> None:
    schema["properties"]["surfaced_at"]["pattern"] = "Z$"


def remove_pattern(schema: Schema) -> None:
    del schema["properties"]["currency"]["pattern"]


def make_field_required(schema: Schema) -> None:
    schema["required"].append("quantity")


MAJOR, MINOR, PATCH = ChangeLevel.MAJOR, ChangeLevel.MINOR, ChangeLevel.PATCH
CLASSIFICATIONS = [
    pytest.param(edit_description, [("$.description", PATCH, "description changed")], id="description"),
    pytest.param(edit_example, [("$.examples", PATCH, "examples changed")], id="example"),
    pytest.param(
        add_optional_field, [("$.properties.aisle", MINOR, "new optional field 'aisle'")], id="new optional field"
    ),
    pytest.param(
        add_required_field, [("$.properties.aisle", MAJOR, "new required field 'aisle'")], id="new required field"
    ),
    pytest.param(remove_field, [("$.properties.channel", MAJOR, "field 'channel' removed")], id="removed field"),
    pytest.param(
        rename_field,
        [
            ("$.properties.price", MAJOR, "field 'price' removed (renamed to 'amount'?)"),
            ("$.properties.amount", MAJOR, "new required field 'amount'"),
        ],
        id="renamed field",
    ),
    pytest.param(
        change_type, [("$.properties.quantity", MAJOR, "type changed from ['integer'] to ['string']")], id="type"
    ),
    pytest.param(
        narrow_enum, [("$.properties.channel.enum", MAJOR, "enum narrowed: ['voice'] removed")], id="narrowed enum"
    ),
    pytest.param(
        widen_enum, [("$.properties.channel.enum", MINOR, "enum widened: ['kiosk'] added")], id="widened enum"
    ),
    pytest.param(
        lower_max_length,
        [("$.properties.team.maxLength", MAJOR, "maxLength tightened from 64 to 32")],
        id="maxLength lowered",
    ),
    pytest.param(
        raise_max_length,
        [("$.properties.team.maxLength", MINOR, "maxLength loosened from 64 to 128")],
        id="maxLength raised",
    ),
    pytest.param(
        raise_minimum, [("$.properties.price.minimum", MAJOR, "minimum tightened from 0 to 1")], id="minimum raised"
    ),
    pytest.param(
        lower_minimum, [("$.properties.price.minimum", MINOR, "minimum loosened from 0 to -1")], id="minimum lowered"
    ),
    pytest.param(
        add_pattern, [("$.properties.surfaced_at.pattern", MAJOR, "pattern added: None → 'Z$'")], id="pattern added"
    ),
    pytest.param(
        remove_pattern,
        [("$.properties.currency.pattern", MINOR, "pattern removed: '^[A-Z]{3}$' → None")],
        id="pattern removed",
    ),
    pytest.param(
        make_field_required,
        [("$.properties.quantity", MAJOR, "field 'quantity' became required")],
        id="optional to required",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), CLASSIFICATIONS)
def test_change_is_classified(
    trees: SchemaTrees, edit: Callable[[Schema], None], expected: list[tuple[str, ChangeLevel, str]]
) -> None:
    """Each kind of change is reported at its path with the level report 8.1.2 gives it and what changed."""
    with edited(trees.new, OFFER) as schema:
        edit(schema)
    diff = diff_of(compare_directories(trees.old, trees.new), OFFER)
    assert (diff.status, diff.level) == ("changed", max(level for _, level, _ in expected))
    assert [(c.path, c.level, c.message) for c in diff.changes] == expected


def test_identical_trees_have_no_changes(trees: SchemaTrees) -> None:
    """Comparing a tree with an identical copy finds every schema unchanged and the report ok."""
    report = compare_directories(trees.old, trees.new)
    assert report.ok
    assert {d.status for d in report.diffs} == {"unchanged"}
    assert report.render() == "no schema changes"


@pytest.mark.parametrize(
    ("edit", "version", "needed"),
    [(widen_enum, "1.0.0", "1.1.0"), (widen_enum, "1.0.1", "1.1.0"), (edit_description, "1.0.0", "1.0.1")],
)
def test_change_without_enough_version_bump_names_the_needed_version(
    trees: SchemaTrees, edit: Callable[[Schema], None], version: str, needed: str
) -> None:
    """A change whose ``x-version`` is not bumped enough is an error naming the version it needs."""
    with edited(trees.new, OFFER) as schema:
        edit(schema)
        schema["x-version"] = version
    report = compare_directories(trees.old, trees.new)
    level = diff_of(report, OFFER).level
    assert not report.ok
    assert diff_of(report, OFFER).problems == [f"a {level} change needs x-version {needed} or later, found {version}"]


@pytest.mark.parametrize(
    ("edit", "version"),
    [(widen_enum, "1.1.0"), (widen_enum, "1.2.0"), (edit_description, "1.0.1"), (edit_description, "1.1.0")],
)
def test_change_with_enough_version_bump_is_ok(
    trees: SchemaTrees, edit: Callable[[Schema], None], version: str
) -> None:
    """A minor or patch change is accepted once ``x-version`` is bumped at least that much."""
    with edited(trees.new, OFFER) as schema:
        edit(schema)
        schema["x-version"] = version
    report = compare_directories(trees.old, trees.new)
    assert diff_of(report, OFFER).problems == []
    assert report.ok


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "2.0.0"])
def test_major_change_inside_the_same_file_suggests_the_next_file(trees: SchemaTrees, version: str) -> None:
    """A breaking change inside a ``vN`` file is an error at any ``x-version``, pointing at the ``v(N+1)`` file."""
    with edited(trees.new, OFFER) as schema:
        remove_field(schema)
        schema["x-version"] = version
    report = compare_directories(trees.old, trees.new)
    assert not report.ok
    assert diff_of(report, OFFER).problems == [BREAKING_INSIDE_V1]


def test_major_of_x_version_cannot_change_inside_the_file(trees: SchemaTrees) -> None:
    """A compatible change that bumps ``x-version`` to the next major inside the same file is an error."""
    with edited(trees.new, OFFER) as schema:
        widen_enum(schema)
        schema["x-version"] = "2.0.0"
    report = compare_directories(trees.old, trees.new)
    assert diff_of(report, OFFER).problems == [
        "the major of x-version is the vN of the file name; it cannot change inside the file"
    ]


def add_offer_v2(root: Path, version: str) -> None:
    """Publish a breaking change of the offer as ``retail/offer.surfaced.v2`` at ``version``, beside v1."""
    shutil.copyfile(root / OFFER, root / OFFER_V2)
    with edited(root, OFFER_V2) as schema:
        remove_field(schema)
        schema["$id"] = f"https://33god.io/schemas/{OFFER_V2}"
        schema["title"] = "RetailOfferSurfacedV2"
        schema["x-version"] = version


def test_new_major_file_starting_at_its_major_is_ok(trees: SchemaTrees) -> None:
    """A breaking change published as a new ``v2`` file at ``x-version`` 2.0.0 is accepted."""
    add_offer_v2(trees.new, "2.0.0")
    report = compare_directories(trees.old, trees.new)
    diff = diff_of(report, OFFER_V2)
    assert (diff.status, diff.old_version, diff.new_version, diff.problems) == ("added", None, "2.0.0", [])
    assert report.ok


def test_new_file_not_starting_at_its_major_is_an_error(trees: SchemaTrees) -> None:
    """A new ``v2`` file whose ``x-version`` is not 2.0.0 is an error."""
    add_offer_v2(trees.new, "2.1.0")
    report = compare_directories(trees.old, trees.new)
    assert diff_of(report, OFFER_V2).problems == ["a new schema starts at x-version 2.0.0, not 2.1.0"]
    assert not report.ok


def test_removing_an_active_schema_is_an_error(trees: SchemaTrees) -> None:
    """Removing a schema that was never deprecated is a major change and an error."""
    (trees.new / OFFER).unlink()
    report = compare_directories(trees.old, trees.new)
    diff = diff_of(report, OFFER)
    assert (diff.status, diff.level) == ("removed", ChangeLevel.MAJOR)
    assert diff.problems == [
        "a schema is removed only after it was deprecated (x-status: deprecated) for its notice period"
    ]
    assert not report.ok


def test_removing_a_deprecated_schema_is_ok(trees: SchemaTrees) -> None:
    """Removing a schema that was deprecated in the old tree is accepted."""
    with edited(trees.old, OFFER) as schema:
        schema.update({"x-status": "deprecated", "x-deprecated-since": "2026-01-15"})
    (trees.new / OFFER).unlink()
    report = compare_directories(trees.old, trees.new)
    assert (diff_of(report, OFFER).status, report.ok) == ("removed", True)


def test_cli_json_report_has_ok_level_and_changes_and_exits_1_on_error(trees: SchemaTrees) -> None:
    """``holyfields diff --json`` prints parseable JSON with ``ok`` and each changed schema's level and changes."""
    with edited(trees.new, OFFER) as schema:
        widen_enum(schema)
    exit_code, stdout = run_diff(str(trees.old), str(trees.new), "--json")
    assert exit_code == 1
    assert json.loads(stdout) == {
        "ok": False,
        "schemas": [
            {
                "file": OFFER,
                "status": "changed",
                "level": "minor",
                "old_version": "1.0.0",
                "new_version": "1.0.0",
                "changes": [
                    {"path": "$.properties.channel.enum", "level": "minor", "message": "enum widened: ['kiosk'] added"}
                ],
                "problems": ["a minor change needs x-version 1.1.0 or later, found 1.0.0"],
            }
        ],
    }


def test_cli_exits_0_when_every_change_is_versioned(trees: SchemaTrees) -> None:
    """``holyfields diff`` exits 0 and says so when every change is versioned correctly."""
    with edited(trees.new, OFFER) as schema:
        widen_enum(schema)
        schema["x-version"] = "1.1.0"
    exit_code, stdout = run_diff(str(trees.old), str(trees.new))
    assert exit_code == 0
    assert stdout.splitlines()[0] == f"{OFFER}: changed, minor change (1.0.0 → 1.1.0)"
    assert stdout.splitlines()[-1] == "compatible: every change is versioned correctly"


def test_cli_json_report_is_ok_and_exits_0_when_versioned(trees: SchemaTrees) -> None:
    """``holyfields diff --json`` reports ``ok: true`` and exits 0 for a correctly versioned change."""
    with edited(trees.new, OFFER) as schema:
        edit_description(schema)
        schema["x-version"] = "1.0.1"
    exit_code, stdout = run_diff(str(trees.old), str(trees.new), "--json")
    report = json.loads(stdout)
    assert (exit_code, report["ok"]) == (0, True)
    assert [(s["file"], s["level"]) for s in report["schemas"]] == [(OFFER, "patch")]


def test_cli_text_report_names_change_levels_in_words(trees: SchemaTrees) -> None:
    """Each change line of the text report starts with its level as a word (patch, minor, major)."""
    with edited(trees.new, OFFER) as schema:
        widen_enum(schema)
        schema["x-version"] = "1.1.0"
    _, stdout = run_diff(str(trees.old), str(trees.new))
    assert "  minor  $.properties.channel.enum: enum widened: ['kiosk'] added" in stdout.splitlines(), (
        "CompatReport.render formats the IntEnum with ':<5', which prints its number, not its name"
    )


def test_cli_json_keeps_patterns_verbatim(trees: SchemaTrees) -> None:
    """``holyfields diff --json`` prints messages exactly, square brackets of regex patterns included."""
    with edited(trees.new, OFFER) as schema:
        schema["properties"]["surfaced_at"]["pattern"] = "^[0-9]{4}-[a-z]*"
    _, stdout = run_diff(str(trees.old), str(trees.new), "--json")
    (change,) = json.loads(stdout)["schemas"][0]["changes"]
    assert change["message"] == "pattern added: None → '^[0-9]{4}-[a-z]*'", (
        "rich console markup swallows '[a-z]' as a style tag"
    )


def test_cli_json_lists_a_schema_whose_only_problem_is_its_version(trees: SchemaTrees) -> None:
    """A schema with a versioning error but no content change still appears, with its problem, in the report."""
    with edited(trees.old, OFFER) as schema:
        schema["x-version"] = "1.2.0"
    exit_code, stdout = run_diff(str(trees.old), str(trees.new), "--json")
    report = json.loads(stdout)
    assert (exit_code, report["ok"]) == (1, False)
    assert [(s["file"], s["problems"]) for s in report["schemas"]] == [
        (OFFER, ["a none change needs x-version 1.2.0 or later, found 1.0.0"])
    ], "to_json and render drop every 'unchanged' diff, even one with problems"


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A git repository whose HEAD commit holds a copy of the packaged schemas under ``schemas/``."""
    repo = tmp_path / "repo"
    shutil.copytree(default_schema_root(), repo / "schemas")
    git(repo, "init", "--quiet")
    git(repo, "add", "schemas")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    git(repo, *identity, "commit", "--quiet", "--message", "schemas")
    return repo


def test_git_ref_comparison_finds_working_tree_changes(git_repo: Path) -> None:
    """``compare_with_git_ref`` compares the schemas committed at ``HEAD`` with the edited working tree."""
    with edited(git_repo / "schemas", OFFER) as schema:
        widen_enum(schema)
    report = compare_with_git_ref("HEAD", git_repo / "schemas")
    diff = diff_of(report, OFFER)
    assert [(c.path, c.level) for c in diff.changes] == [("$.properties.channel.enum", ChangeLevel.MINOR)]
    assert diff.problems == ["a minor change needs x-version 1.1.0 or later, found 1.0.0"]


def test_git_ref_comparison_of_a_clean_tree_has_no_changes(git_repo: Path) -> None:
    """``compare_with_git_ref`` on an unedited working tree finds every committed schema unchanged."""
    report = compare_with_git_ref("HEAD", git_repo / "schemas")
    assert report.ok
    assert len(report.diffs) == len(list(default_schema_root().rglob("*.schema.json")))
    assert {d.status for d in report.diffs} == {"unchanged"}


def test_cli_diff_base_compares_the_given_directory(git_repo: Path) -> None:
    """``holyfields diff --base REF DIR`` compares ``DIR`` with its state at ``REF``."""
    with edited(git_repo / "schemas", OFFER) as schema:
        widen_enum(schema)
    exit_code, stdout = run_diff("--base", "HEAD", str(git_repo / "schemas"))
    assert (exit_code, stdout.splitlines()[0]) == (1, f"{OFFER}: changed, minor change (1.0.0 → 1.0.0)"), (
        "the lone positional argument fills OLD, so --base compares the packaged schemas and ignores DIR"
    )
