"""POST /schemas/{event_type}/compatibility: a candidate schema classified as `holyfields diff` classifies it.

The routes are called through the Bloodbank gateway (what `33god up` and `bloodbank serve` run).
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bloodbank import BloodbankSettings
from bloodbank.gateway import create_gateway
from gumdrop.access_control import Access
from gumdrop.principals import Client, KeyRing, Scope, hash_key
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from holyfields import default_catalog
from holyfields.cli import app as holyfields_cli
from holyfields.compat import CLASSIFIED_KEYWORDS, DRAFT7_URIS, candidate_issues
from holyfields.lint import SUPPORTED_KEYWORDS

READY = "fireflies.transcript.ready.v1"
READY_FILE = "fireflies/transcript.ready.v1.schema.json"
BREAKING_INSIDE_V1 = (
    "breaking change inside v1: keep this file compatible and publish the change as a new event type in "
    "fireflies/transcript.ready.v2.schema.json (x-version 2.0.0), dual-publishing during the migration"
)

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    settings = BloodbankSettings(data_dir=tmp_path_factory.mktemp("gateway"))
    return TestClient(create_gateway(settings), base_url="http://localhost")


def registered(event_type: str = READY) -> Schema:
    doc = default_catalog().get(event_type)
    assert doc is not None
    return copy.deepcopy(dict(doc.content))


def check(client: TestClient, candidate: Any, event_type: str = READY) -> Any:
    return client.post(f"/schemas/{event_type}/compatibility", json=candidate)


def test_the_registered_schema_itself_changes_nothing(client: TestClient) -> None:
    """The registered schema sent back is classified `none`, compatible and correctly versioned."""
    response = check(client, registered())
    assert response.status_code == 200
    assert response.json() == {
        "event_type": READY,
        "level": "none",
        "compatible": True,
        "ok": True,
        "registered_version": "1.0.0",
        "candidate_version": "1.0.0",
        "breaking_changes": [],
        "other_changes": [],
        "problems": [],
    }


def test_a_new_optional_field_is_minor_and_needs_a_minor_bump(client: TestClient) -> None:
    """An optional field is a minor change; left at 1.0.0 the answer names the version it needs."""
    candidate = registered()
    candidate["properties"]["meeting_url"] = {"type": "string", "format": "uri", "description": "Meeting link."}
    answer = check(client, candidate).json()
    assert answer["level"] == "minor"
    assert (answer["compatible"], answer["ok"]) == (True, False)
    assert answer["breaking_changes"] == []
    assert answer["other_changes"] == [
        {"path": "$.properties.meeting_url", "level": "minor", "message": "new optional field 'meeting_url'"}
    ]
    assert answer["problems"] == ["a minor change needs x-version 1.1.0 or later, found 1.0.0"]

    candidate["x-version"] = "1.1.0"
    answer = check(client, candidate).json()
    assert (answer["level"], answer["ok"], answer["problems"]) == ("minor", True, [])


def test_a_required_field_is_breaking_with_its_path(client: TestClient) -> None:
    """A new required field is a major change at its path, refused inside v1 whatever x-version says."""
    candidate = registered()
    candidate["properties"]["meeting_url"] = {"type": "string", "description": "Meeting link."}
    candidate["required"] = [*candidate["required"], "meeting_url"]
    candidate["properties"]["title"]["description"] = "The meeting's title, as Fireflies shows it."
    candidate["x-version"] = "2.0.0"
    answer = check(client, candidate).json()
    assert (answer["level"], answer["compatible"], answer["ok"]) == ("major", False, False)
    assert (answer["registered_version"], answer["candidate_version"]) == ("1.0.0", "2.0.0")
    assert answer["breaking_changes"] == [
        {"path": "$.properties.meeting_url", "level": "major", "message": "new required field 'meeting_url'"}
    ]
    assert answer["other_changes"] == [
        {"path": "$.properties.title.description", "level": "patch", "message": "description changed"}
    ]
    assert answer["problems"] == [BREAKING_INSIDE_V1]


def cli_diff(current: Schema, candidate: Schema) -> dict[str, Any]:
    """What `holyfields diff OLD NEW --json` says of ``READY_FILE`` going from ``current`` to ``candidate``."""
    with tempfile.TemporaryDirectory() as tmp:
        for side, schema in (("old", current), ("new", candidate)):
            file = Path(tmp, side, READY_FILE)
            file.parent.mkdir(parents=True)
            file.write_text(json.dumps(schema), encoding="utf-8")
        result = CliRunner().invoke(holyfields_cli, ["diff", f"{tmp}/old", f"{tmp}/new", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (0 if report["ok"] else 1)
    [entry] = report["schemas"] or [{"level": "none", "changes": [], "problems": []}]
    return dict(entry)


Mutation = Callable[[Schema], None]


def add_field(*, required: bool) -> Mutation:
    def mutate(schema: Schema) -> None:
        schema["properties"]["meeting_url"] = {"type": "string", "description": "Meeting link."}
        if required:
            schema["required"] = [*schema["required"], "meeting_url"]

    return mutate


def drop_field(schema: Schema) -> None:
    del schema["properties"]["word_count"]
    schema["required"] = [name for name in schema["required"] if name != "word_count"]


def reword(schema: Schema) -> None:
    schema["description"] = schema["description"] + " Reworded."


def make_optional(schema: Schema) -> None:
    schema["required"] = [name for name in schema["required"] if name != "language"]


def widen_type(schema: Schema) -> None:
    schema["properties"]["title"]["type"] = ["string", "null"]


def open_object(schema: Schema) -> None:
    schema["additionalProperties"] = True


def bound(schema: Schema) -> None:
    schema["properties"]["title"]["maxLength"] = 40


MUTATIONS: list[Mutation] = [
    add_field(required=False),
    add_field(required=True),
    drop_field,
    reword,
    make_optional,
    widen_type,
    open_object,
    bound,
]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(MUTATIONS), unique=True, max_size=4),
    st.sampled_from(["1.0.0", "1.0.1", "1.1.0", "1.2.3", "2.0.0", "0.9.0", "one"]),
)
def test_the_answer_is_what_holyfields_diff_says(client: TestClient, mutations: list[Mutation], version: str) -> None:
    """For any mix of changes and any x-version, the HTTP answer and `holyfields diff --json` agree in every part."""
    current, candidate = registered(), registered()
    for mutate in mutations:
        mutate(candidate)
    candidate["x-version"] = version
    answer = check(client, candidate).json()
    expected = cli_diff(current, candidate)
    assert answer["level"] == expected["level"]
    assert answer["problems"] == expected["problems"]
    assert answer["ok"] == (expected["problems"] == [])
    assert answer["breaking_changes"] == [c for c in expected["changes"] if c["level"] == "major"]
    assert answer["other_changes"] == [c for c in expected["changes"] if c["level"] != "major"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*sorted(CLASSIFIED_KEYWORDS), "a", "oneOf"]), inner, max_size=4)
    ),
    max_leaves=16,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(json_values)
def test_any_json_body_is_classified_or_refused_never_a_server_error(client: TestClient, body: Any) -> None:
    """Any JSON body is answered 200 with a level, or 422 with every problem at a path in the body."""
    response = client.post(
        f"/schemas/{READY}/compatibility", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code in {200, 422}, response.text
    if response.status_code == 200:
        assert response.json()["level"] in {"none", "patch", "minor", "major"}
    else:
        errors = response.json()["errors"]
        assert errors
        assert all(error["path"] is None or error["path"].startswith("$") for error in errors)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("[]", "$", "a schema must be a JSON object (a .schema.json file's content), got an array"),
        ('"x"', "$", "a schema must be a JSON object (a .schema.json file's content), got a string"),
        (
            '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}',
            "$.$schema",
            "the registry's schemas are draft-07: expected 'http://json-schema.org/draft-07/schema#'",
        ),
        (
            '{"type": "object", "properties": {"title": {"type": "text"}}}',
            "$.properties.title.type",
            (
                'not a valid draft-07 schema: "text" is not valid under any of the schemas listed in the '
                "'anyOf' keyword"
            ),
        ),
        (
            '{"type": "object", "required": ["a", "a"]}',
            "$.required",
            'not a valid draft-07 schema: ["a","a"] has non-unique elements',
        ),
        (
            '{"type": "object", "properties": {"title": {"oneOf": [{"type": "string"}]}}}',
            "$.properties.title.oneOf",
            (
                "keyword 'oneOf' is not supported by the registry (holyfields validate refuses it), "
                "so a change to it cannot be classified"
            ),
        ),
        ('{"type": "object", "type": "string"}', "$.type", "duplicate key 'type': a key may appear once per object"),
    ],
)
def test_a_body_that_cannot_be_classified_is_a_422_at_its_path(
    client: TestClient, body: str, path: str, message: str
) -> None:
    """A body that is not a draft-07 schema object is refused, naming where and what."""
    response = client.post(
        f"/schemas/{READY}/compatibility", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"errors": [{"path": path, "message": message}]}


def test_malformed_json_is_a_422(client: TestClient) -> None:
    """A body that is not JSON at all is refused."""
    response = client.post(
        f"/schemas/{READY}/compatibility", content=b'{"type": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"]


def test_an_empty_body_asks_for_the_candidate(client: TestClient) -> None:
    """No body at all is a 422 saying what to send."""
    response = client.post(f"/schemas/{READY}/compatibility", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"errors": [{"path": None, "message": "send the candidate schema as the JSON body"}]}


def test_an_unknown_event_type_is_a_404(client: TestClient) -> None:
    """A candidate for an event type the registry does not have answers 404 naming it."""
    response = check(client, registered(), event_type="fireflies.transcript.done.v1")
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == (
        "unknown event type 'fireflies.transcript.done.v1': see GET /schemas for the registered ones"
    )


def test_a_query_parameter_is_refused(client: TestClient) -> None:
    """The route takes no query parameter, so one is a 422 naming it rather than ignored."""
    response = client.post(f"/schemas/{READY}/compatibility?dry_run=true", json=registered())
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {"path": "query.dry_run", "message": "unknown query parameter; this route takes no query parameters"}
        ]
    }


def test_the_classification_covers_exactly_the_keywords_the_registry_allows() -> None:
    """Every keyword `holyfields validate` allows is compared, so no allowed change goes unclassified."""
    assert CLASSIFIED_KEYWORDS == SUPPORTED_KEYWORDS


def test_the_read_scope_is_enough_to_ask(tmp_path: Path) -> None:
    """With keys configured, a read-only client may ask; a publish-only client may not."""
    keys = {Scope.READ: "read-key", Scope.PUBLISH: "publish-key"}
    ring = KeyRing.of((Client(scope.value, frozenset({scope})), [hash_key(key)]) for scope, key in keys.items())
    access = Access(ring, limiter=MemoryRateLimiter(), default_rate=Rate(1000, 1000), failure_rate=Rate(1000, 1000))
    gateway = TestClient(
        create_gateway(BloodbankSettings(data_dir=tmp_path), access=access), base_url="http://localhost"
    )
    url = f"/schemas/{READY}/compatibility"
    assert gateway.post(url, json=registered(), headers={"X-API-Key": keys[Scope.READ]}).status_code == 200
    assert gateway.post(url, json=registered(), headers={"X-API-Key": keys[Scope.PUBLISH]}).status_code == 403
    assert gateway.post(url, json=registered()).status_code == 401


json_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.text(max_size=4)
any_json = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=2), max_leaves=4)
json_types = st.sampled_from(["array", "boolean", "integer", "null", "number", "object", "string", "text"])
draft_uris = st.sampled_from([*DRAFT7_URIS, "https://json-schema.org/draft/2020-12/schema"])


def schema_like(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with keywords, each value often what draft-07 wants and sometimes not."""
    count = st.integers(-1, 4) | st.floats(0, 4) | st.text(max_size=2)
    number = st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False) | st.booleans()
    names = st.lists(st.text(max_size=3), max_size=3)
    keywords: dict[str, st.SearchStrategy[Any]] = {
        "$schema": draft_uris | any_json,
        "$ref": st.text(max_size=6) | any_json,
        "title": st.text(max_size=4) | any_json,
        "type": json_types | st.lists(json_types, max_size=3) | any_json,
        "properties": st.dictionaries(st.text(max_size=3), inner, max_size=2) | any_json,
        "definitions": st.dictionaries(st.text(max_size=3), inner, max_size=2),
        "items": inner | st.lists(inner, max_size=2),
        "additionalProperties": inner,
        "required": names | any_json,
        "enum": st.lists(any_json, max_size=3) | any_json,
        "const": any_json,
        "examples": st.lists(any_json, max_size=2) | any_json,
        "pattern": st.text(max_size=4) | any_json,
        "minLength": count,
        "maxItems": count,
        "minimum": number,
        "exclusiveMaximum": number,
        "uniqueItems": st.booleans() | any_json,
        "x-version": any_json,
        "oneOf": st.lists(inner, max_size=2),
        "nullable": st.booleans(),
    }
    return st.fixed_dictionaries({}, optional=keywords)


candidate_schemas = st.recursive(st.booleans() | schema_like(st.booleans()), schema_like, max_leaves=8)


@pytest.fixture(scope="module")
def documented(client: TestClient) -> jsonschema_rs.Validator:
    """What the gateway's OpenAPI document says the route takes, as a validator."""
    document = client.get("/openapi.json").json()
    body = document["paths"]["/schemas/{event_type}/compatibility"]["post"]["requestBody"]
    assert body["required"] is True
    return jsonschema_rs.validator_for({**body["content"]["application/json"]["schema"], **document})


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(schema_like(candidate_schemas))
def test_the_documented_body_is_exactly_what_is_classified(documented: jsonschema_rs.Validator, body: Schema) -> None:
    """A body the OpenAPI document allows is classified, and one it does not allow is refused: they never differ."""
    assert documented.is_valid(body) == (candidate_issues(body) == [])


def test_every_registered_schema_is_a_documented_candidate(documented: jsonschema_rs.Validator) -> None:
    """The registry's own schemas fit the documented body (so sending one back is always answered)."""
    for doc in default_catalog().documents:
        assert documented.is_valid(dict(doc.content)), doc.path
        assert candidate_issues(dict(doc.content)) == [], doc.path
