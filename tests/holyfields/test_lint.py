"""Linting the schema directory: each rule names the file, the JSON path and what is wrong.

Every bad case copies the packaged schema tree and breaks exactly one thing in it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from holyfields.catalog import default_catalog, default_schema_root
from holyfields.cli import app
from holyfields.lint import LintProblem, lint_schemas
from holyfields.naming import UUID_PATTERN

OFFER = "retail/offer.surfaced.v1.schema.json"
MEETING = "theboard/meeting.created.v1.schema.json"
ENVELOPE = "core/event-envelope.v1.schema.json"


@pytest.fixture
def schema_tree(tmp_path: Path) -> Path:
    """A private copy of the packaged schemas that a test may break."""
    root = tmp_path / "schemas"
    shutil.copytree(default_schema_root(), root)
    return root


@contextmanager
def edited(root: Path, relative: str) -> Iterator[dict[str, Any]]:
    """Load the schema at ``root/relative``, let the caller change it, and save it back."""
    file = root / relative
    with file.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    yield schema
    with file.open("w", encoding="utf-8") as handle:
        json.dump(schema, handle, indent=2)


def only_problem(root: Path) -> LintProblem:
    """The single problem linting ``root`` reports; fails when there are none or several."""
    problems = lint_schemas(root)
    assert len(problems) == 1, problems
    return problems[0]


def run_validate(root: Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``holyfields validate --schemas root``."""
    result = CliRunner().invoke(app, ["validate", "--schemas", str(root)])
    return result.exit_code, result.stdout, result.stderr


def test_shipped_schemas_lint_clean() -> None:
    """The schemas shipped in the package break no rule."""
    assert lint_schemas(default_schema_root()) == []


def test_invalid_json_is_reported_at_the_document_root(schema_tree: Path) -> None:
    """A file that is not JSON is reported once, at ``$``, as invalid JSON."""
    (schema_tree / OFFER).write_text('{"title": ', encoding="utf-8")
    problem = only_problem(schema_tree)
    assert (problem.file, problem.path) == (OFFER, "$")
    assert problem.message.startswith("invalid JSON: ")


def test_schema_that_is_not_draft07_is_reported_alone(schema_tree: Path) -> None:
    """A document that is not a valid draft-07 schema is reported at the bad keyword, and no other rule runs."""
    with edited(schema_tree, OFFER) as schema:
        schema["type"] = 5
    problem = only_problem(schema_tree)
    assert (problem.file, problem.path) == (OFFER, "$.type")
    assert problem.message.startswith("not a valid draft-07 schema: 5 ")


def test_id_must_match_the_file_path(schema_tree: Path) -> None:
    """An ``$id`` other than the base URI plus the file path is reported with the expected ``$id``."""
    with edited(schema_tree, OFFER) as schema:
        schema["$id"] = "https://33god.io/schemas/retail/offer.shown.v1.schema.json"
    assert only_problem(schema_tree) == LintProblem(
        OFFER,
        "$.$id",
        "'https://33god.io/schemas/retail/offer.shown.v1.schema.json' does not match the file path: "
        "expected 'https://33god.io/schemas/retail/offer.surfaced.v1.schema.json'",
    )


def test_title_must_be_the_class_name_of_the_event_type(schema_tree: Path) -> None:
    """A payload schema's title must be the PascalCase of its event type."""
    with edited(schema_tree, OFFER) as schema:
        schema["title"] = "OfferSurfaced"
    assert only_problem(schema_tree) == LintProblem(
        OFFER,
        "$.title",
        "must be 'RetailOfferSurfacedV1', the PascalCase of the event type 'retail.offer.surfaced.v1'",
    )


@pytest.mark.parametrize("bad_name", ["retail/OfferSurfaced.v1.schema.json", "retail/offer-surfaced.v1.schema.json"])
def test_file_name_must_follow_the_naming_convention(schema_tree: Path, bad_name: str) -> None:
    """A payload schema file not named ``{domain}/{resource}.{action}.v{N}.schema.json`` is reported."""
    with edited(schema_tree, OFFER) as schema:
        schema["$id"] = f"https://33god.io/schemas/{bad_name}"
    (schema_tree / OFFER).rename(schema_tree / bad_name)
    assert only_problem(schema_tree) == LintProblem(
        bad_name,
        "$",
        f"'{bad_name}' is not a payload schema path: expected '{{domain}}/{{resource}}.{{action}}.v{{N}}.schema.json',"
        " e.g. 'fireflies/transcript.ready.v1.schema.json'",
    )


def test_description_is_required(schema_tree: Path) -> None:
    """A schema without a description is told to say when the event is published and by whom."""
    with edited(schema_tree, OFFER) as schema:
        del schema["description"]
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.description", "is required: say when the event is published and by whom"
    )


def test_at_least_one_example_is_required(schema_tree: Path) -> None:
    """A schema without examples is reported at ``$.examples``."""
    with edited(schema_tree, OFFER) as schema:
        del schema["examples"]
    assert only_problem(schema_tree) == LintProblem(OFFER, "$.examples", "at least one valid example is required")


def test_examples_must_validate_against_the_schema(schema_tree: Path) -> None:
    """An example that breaks the schema is reported at the offending value inside that example."""
    with edited(schema_tree, OFFER) as schema:
        schema["examples"][0]["price"] = -1
    problem = only_problem(schema_tree)
    assert (problem.file, problem.path) == (OFFER, "$.examples[0].price")
    assert problem.message.startswith("example is invalid: -1 ")
    assert "minimum of 0" in problem.message


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0-rc.1", "01.0.0", 1])
def test_x_version_must_be_a_semantic_version(schema_tree: Path, version: object) -> None:
    """An ``x-version`` that is not ``MAJOR.MINOR.PATCH`` is reported with the bad value."""
    with edited(schema_tree, OFFER) as schema:
        schema["x-version"] = version
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.x-version", f"{version!r} is not a semantic version like '1.0.0'"
    )


def test_x_version_with_a_trailing_newline_is_not_a_semantic_version(schema_tree: Path) -> None:
    """An ``x-version`` of ``"1.0.0\\n"`` is rejected like any other string that is not exactly semver."""
    with edited(schema_tree, OFFER) as schema:
        schema["x-version"] = "1.0.0\n"
    assert lint_schemas(schema_tree) == [
        LintProblem(OFFER, "$.x-version", "'1.0.0\\n' is not a semantic version like '1.0.0'")
    ], "the semver regex ends in '$' used with re.match, which accepts a trailing newline"


def test_x_version_major_must_match_the_file_version(schema_tree: Path) -> None:
    """The major of ``x-version`` must be the ``vN`` of the file name."""
    with edited(schema_tree, OFFER) as schema:
        schema["x-version"] = "2.0.0"
    assert only_problem(schema_tree) == LintProblem(OFFER, "$.x-version", "major 2 does not match the file's v1")


@pytest.mark.parametrize("owner", [None, "Retail Platform", "retail_platform", "-retail", 7])
def test_x_owner_must_be_a_slug(schema_tree: Path, owner: object) -> None:
    """A missing or ill-formed ``x-owner`` is reported with the value found."""
    with edited(schema_tree, OFFER) as schema:
        if owner is None:
            del schema["x-owner"]
        else:
            schema["x-owner"] = owner
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.x-owner", f"{owner!r} is not an owner slug like 'fireflies-team'"
    )


@pytest.mark.parametrize("status", [None, "retired", "Active"])
def test_x_status_must_be_active_or_deprecated(schema_tree: Path, status: str | None) -> None:
    """An ``x-status`` other than ``active`` or ``deprecated`` is reported with the value found."""
    with edited(schema_tree, OFFER) as schema:
        if status is None:
            del schema["x-status"]
        else:
            schema["x-status"] = status
    assert only_problem(schema_tree) == LintProblem(OFFER, "$.x-status", f"{status!r} is not 'active' or 'deprecated'")


def test_deprecated_schema_needs_the_deprecation_date(schema_tree: Path) -> None:
    """A deprecated schema without ``x-deprecated-since`` is reported."""
    with edited(schema_tree, OFFER) as schema:
        schema["x-status"] = "deprecated"
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.x-deprecated-since", "a deprecated schema needs the date it was deprecated (YYYY-MM-DD)"
    )


def test_x_replaced_by_must_name_an_event_type_in_the_registry(schema_tree: Path) -> None:
    """A deprecated schema replaced by an unknown event type is reported with that name."""
    with edited(schema_tree, OFFER) as schema:
        schema.update({"x-status": "deprecated", "x-deprecated-since": "2026-11-01"})
        schema["x-replaced-by"] = "retail.offer.shown.v2"
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.x-replaced-by", "'retail.offer.shown.v2' is not an event type in the registry"
    )


def test_properly_deprecated_schema_lints_clean(schema_tree: Path) -> None:
    """A deprecated schema with its date and a known replacement breaks no rule."""
    with edited(schema_tree, OFFER) as schema:
        schema.update({"x-status": "deprecated", "x-deprecated-since": "2026-11-01"})
        schema["x-replaced-by"] = "retail.inventory.snapshot.v1"
    assert lint_schemas(schema_tree) == []


def test_deprecation_fields_are_only_for_deprecated_schemas(schema_tree: Path) -> None:
    """An active schema carrying ``x-replaced-by`` is reported at ``x-status``."""
    with edited(schema_tree, OFFER) as schema:
        schema["x-replaced-by"] = "retail.inventory.snapshot.v1"
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.x-status", "x-deprecated-since and x-replaced-by are only for deprecated schemas"
    )


def test_uuid_field_must_carry_the_uuid_pattern(schema_tree: Path) -> None:
    """A ``format: uuid`` field without the UUID pattern is reported at its ``pattern``."""
    with edited(schema_tree, MEETING) as schema:
        del schema["properties"]["meeting_id"]["pattern"]
    assert only_problem(schema_tree) == LintProblem(
        MEETING,
        "$.properties.meeting_id.pattern",
        f"a uuid field must carry the pattern {UUID_PATTERN!r} (draft-07 does not check uuid)",
    )


def test_unsupported_keyword_is_reported(schema_tree: Path) -> None:
    """A keyword the code generators do not understand is reported where it is used."""
    with edited(schema_tree, OFFER) as schema:
        schema["properties"]["team"]["oneOf"] = [{"type": "string"}]
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$.properties.team.oneOf", "keyword 'oneOf' is not supported by the code generators"
    )


def test_object_with_properties_must_set_additional_properties(schema_tree: Path) -> None:
    """A payload object with properties but no ``additionalProperties`` is reported at ``$``."""
    with edited(schema_tree, OFFER) as schema:
        del schema["additionalProperties"]
    assert only_problem(schema_tree) == LintProblem(
        OFFER, "$", "an object with properties must say whether it is closed: set additionalProperties"
    )


def test_definition_with_properties_must_set_additional_properties(schema_tree: Path) -> None:
    """A definition with properties but no ``additionalProperties`` is reported at that definition."""
    with edited(schema_tree, MEETING) as schema:
        del schema["definitions"]["Participant"]["additionalProperties"]
    assert only_problem(schema_tree) == LintProblem(
        MEETING,
        "$.definitions.Participant",
        "an object with properties must say whether it is closed: set additionalProperties",
    )


def test_every_property_needs_a_description(schema_tree: Path) -> None:
    """A property without a description is reported at that property."""
    with edited(schema_tree, OFFER) as schema:
        del schema["properties"]["price"]["description"]
    assert only_problem(schema_tree) == LintProblem(OFFER, "$.properties.price", "every property needs a description")


def break_participant_ref(root: Path) -> None:
    """Point the meeting's participants at a definition that does not exist."""
    with edited(root, MEETING) as schema:
        schema["properties"]["participants"]["items"]["$ref"] = "#/definitions/Member"


def test_ref_to_a_missing_definition_is_reported(schema_tree: Path) -> None:
    """A ``$ref`` to a missing definition is reported at that ``$ref``."""
    break_participant_ref(schema_tree)
    assert LintProblem(
        MEETING,
        "$.properties.participants.items.$ref",
        "'#/definitions/Member' does not resolve: no such definition",
    ) in lint_schemas(schema_tree)


def test_ref_to_a_missing_definition_is_reported_once(schema_tree: Path) -> None:
    """A ``$ref`` to a missing definition is one problem, not also a multi-line compile error of the whole file."""
    break_participant_ref(schema_tree)
    assert lint_schemas(schema_tree) == [
        LintProblem(
            MEETING,
            "$.properties.participants.items.$ref",
            "'#/definitions/Member' does not resolve: no such definition",
        )
    ], "the examples validator also fails to compile and adds '$: cannot be compiled: ...' spanning several lines"


def test_broken_ref_to_another_schema_is_blamed_on_its_own_file(schema_tree: Path) -> None:
    """A ``$ref`` to a schema not in the registry is reported in the file that holds it, and in no other file."""
    with edited(schema_tree, ENVELOPE) as schema:
        schema["properties"]["source"]["$ref"] = "https://33god.io/schemas/core/origin.v1.schema.json"
    problems = lint_schemas(schema_tree)
    assert (
        LintProblem(
            ENVELOPE,
            "$.properties.source.$ref",
            "'https://33god.io/schemas/core/origin.v1.schema.json' does not resolve to any schema in the registry",
        )
        in problems
    )
    assert {p.file for p in problems} == {ENVELOPE}, "every file's examples validator fails to compile"


def test_cli_validate_reports_the_schema_count_on_the_shipped_tree() -> None:
    """``holyfields validate`` on the shipped schemas exits 0 and prints how many schemas it checked."""
    exit_code, stdout, _ = run_validate(default_schema_root())
    assert (exit_code, stdout) == (0, f"{len(default_catalog().documents)} schemas OK\n")


def test_cli_validate_prints_one_line_per_problem_and_exits_1(schema_tree: Path) -> None:
    """``holyfields validate`` prints ``file: $.path: message`` per problem, sorted, and exits 1."""
    with edited(schema_tree, OFFER) as schema:
        del schema["properties"]["price"]["description"]
    with edited(schema_tree, MEETING) as schema:
        del schema["properties"]["meeting_id"]["pattern"]
    exit_code, stdout, stderr = run_validate(schema_tree)
    assert exit_code == 1
    assert stdout.splitlines() == [
        f"{OFFER}: $.properties.price: every property needs a description",
        (
            f"{MEETING}: $.properties.meeting_id.pattern: a uuid field must carry the pattern {UUID_PATTERN!r}"
            " (draft-07 does not check uuid)"
        ),
    ]
    assert stderr == f"2 problem(s) in the schemas under {schema_tree}\n"


def test_cli_validate_prints_messages_verbatim(schema_tree: Path) -> None:
    """``holyfields validate`` prints each problem exactly, square brackets of regex patterns included."""
    with edited(schema_tree, OFFER) as schema:
        schema["examples"][0]["team"] = "Magic Apron"
    problem = only_problem(schema_tree)
    assert "[a-z0-9]" in problem.message
    exit_code, stdout, _ = run_validate(schema_tree)
    assert exit_code == 1
    assert stdout == f"{problem}\n", "rich console markup swallows '[a-z0-9]' as a style tag"
