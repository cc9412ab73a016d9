"""Validating events: every problem reported with its JSON path and a readable message, never a traceback."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holyfields import EventValidator, InvalidEvent, ValidationIssue, default_catalog, default_validator
from holyfields.validation import json_path

VALID: dict[str, Any] = {
    "event_id": "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
    "event_type": "retail.inventory.snapshot.v1",
    "timestamp": "2026-11-02T14:05:00+01:00",
    "version": "1.0.0",
    "source": {"host": "inv-01", "type": "scheduled", "app": "inventory"},
    "correlation_ids": [],
    "payload": {
        "store_id": "store-0042",
        "as_of": "2026-11-02T14:00:00Z",
        "items": [
            {"product_id": "sku-1", "on_hand": 4, "price": 9.99},
            {"product_id": "sku-2", "on_hand": 0, "price": 19.5},
        ],
    },
}


def event(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(VALID)
    out.update(changes)
    return out


def issues(value: object) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in default_validator().validate(value)]


def test_valid_event_has_no_issues() -> None:
    """A well-formed envelope with a valid payload passes."""
    assert issues(VALID) == []
    assert default_validator().parse(json.dumps(VALID).encode()) == VALID


@pytest.mark.parametrize("doc", default_catalog().payload_schemas(), ids=lambda d: str(d.event_type))
def test_every_schema_example_validates_inside_an_envelope(doc: Any) -> None:
    """Each example payload of each event type is a valid event once wrapped in an envelope."""
    for example in doc.examples:
        assert issues(event(event_type=str(doc.event_type), payload=example)) == []


def test_invalid_json_is_answered() -> None:
    """Text that is not JSON is reported at `$`, not raised as a decoder traceback."""
    with pytest.raises(InvalidEvent) as caught:
        default_validator().parse(b'{"event_id": ')
    assert caught.value.issues == (ValidationIssue("$", "not valid JSON: Input data was truncated"),)


def test_non_object_is_answered() -> None:
    """A JSON array instead of an object says what was expected."""
    assert issues([1, 2]) == [("$", "expected object, got array [1, 2]")]


def test_missing_field_is_named() -> None:
    """A missing required field is reported at its own path."""
    broken = event()
    del broken["source"]
    assert issues(broken) == [("$.source", "is required")]


def test_misspelt_field_gets_a_suggestion() -> None:
    """`correlation_id` instead of `correlation_ids` is rejected with the right name suggested."""
    broken = event()
    broken["correlation_id"] = broken.pop("correlation_ids")
    assert issues(broken) == [
        ("$.correlation_ids", "is required"),
        ("$.correlation_id", "unknown field: not allowed here; did you mean 'correlation_ids'?"),
    ]


def test_misspelt_payload_field_gets_a_suggestion() -> None:
    """A misspelt field deep in the payload is named with its full path and a suggestion."""
    broken = event()
    broken["payload"]["items"][1]["on_hnd"] = broken["payload"]["items"][1].pop("on_hand")
    assert issues(broken) == [
        ("$.payload.items[1].on_hand", "is required"),
        ("$.payload.items[1].on_hnd", "unknown field: not allowed here; did you mean 'on_hand'?"),
    ]


def test_non_uuid_event_id_is_rejected() -> None:
    """Draft-07 does not check format uuid; the envelope's pattern does."""
    assert issues(event(event_id="12345")) == [
        ("$.event_id", "'12345' is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')")
    ]


def test_non_uuid_correlation_id_is_rejected() -> None:
    """Each parent id must be a UUID; the bad one is named by its index."""
    ids = ["0193a5f1-0a2b-7c3d-8e4f-5a6b7c8d9e0f", "parent-2"]
    assert issues(event(correlation_ids=ids)) == [
        ("$.correlation_ids[1]", "'parent-2' is not a valid UUID (e.g. '0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b')")
    ]


def test_timestamp_without_offset_is_rejected() -> None:
    """A timestamp must carry its offset (RFC 3339)."""
    assert issues(event(timestamp="2026-11-02T14:05:00")) == [
        (
            "$.timestamp",
            "'2026-11-02T14:05:00' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'",
        )
    ]


def test_malformed_event_type_is_rejected() -> None:
    """An event type that breaks the naming convention says what the convention is."""
    assert issues(event(event_type="Retail-Inventory")) == [
        (
            "$.event_type",
            (
                "'Retail-Inventory' is not a valid event type: expected {domain}.{resource}.{action}.v{N}"
                ", e.g. 'fireflies.transcript.ready.v1'"
            ),
        )
    ]


def test_unknown_event_type_is_rejected_with_a_suggestion() -> None:
    """A well-formed but unregistered event type is rejected, with the closest known one suggested."""
    assert issues(event(event_type="retail.inventory.snapshots.v1")) == [
        (
            "$.event_type",
            (
                "unknown event type 'retail.inventory.snapshots.v1': no schema is registered for it"
                "; did you mean 'retail.inventory.snapshot.v1'?"
            ),
        )
    ]


def test_payload_breaking_its_schema_reports_every_error() -> None:
    """Every payload error is reported, each at its own path, in one pass."""
    broken = event()
    broken["payload"]["items"][0]["on_hand"] = -1
    broken["payload"]["items"][1]["price"] = "cheap"
    broken["payload"]["as_of"] = "yesterday"
    assert issues(broken) == [
        ("$.payload.as_of", "'yesterday' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'"),
        ("$.payload.items[0].on_hand", "-1 is less than the minimum of 0"),
        ("$.payload.items[1].price", "expected number, got string 'cheap'"),
    ]


def test_wrong_enum_value_lists_the_allowed_ones() -> None:
    """An enum value outside the list says which values are allowed."""
    broken = event(source={"host": "h", "type": "cron"})
    assert issues(broken) == [
        ("$.source.type", "'cron' is not one of 'manual', 'agent', 'scheduled', 'webhook', 'system'")
    ]


def test_check_raises_with_every_issue() -> None:
    """`check` raises InvalidEvent carrying all issues; its message lists them."""
    with pytest.raises(InvalidEvent, match=r"\$\.event_id: '1' is not a valid UUID") as caught:
        default_validator().check(event(event_id="1", version="one"))
    assert [i.path for i in caught.value.issues] == ["$.event_id", "$.version"]


def test_validators_are_compiled_once() -> None:
    """The default validator is built once per process and reused."""
    assert default_validator() is default_validator()
    assert isinstance(default_validator(), EventValidator)
    assert default_validator().event_types == default_catalog().event_types


def test_big_integers_survive_parsing_exactly() -> None:
    """Integers beyond 64 bits are kept exactly (not turned into floats)."""
    raw = json.dumps(event(source={"host": "h", "type": "system", "meta": {"n": 2**70 + 1}})).encode()
    assert default_validator().parse(raw)["source"]["meta"]["n"] == 2**70 + 1


def test_json_path_quotes_keys_that_are_not_identifiers() -> None:
    """Paths use dots for plain keys, brackets for indexes and quoted odd keys."""
    assert json_path(["payload", "items", 3, "sku"]) == "$.payload.items[3].sku"
    assert json_path(["meta", "a b"]) == '$.meta["a b"]'


# Generation speed depends on the machine's load; correctness does not.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


@relaxed
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_invalid_event(raw: bytes) -> None:
    """Any byte string is either a valid event or answered with issues, never another exception."""
    try:
        default_validator().parse(raw)
    except InvalidEvent as exc:
        issues_found = exc.issues
    else:
        return
    assert issues_found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@relaxed
@given(st.dictionaries(st.sampled_from([*VALID, "extra"]), json_values, max_size=9))
def test_arbitrary_envelopes_are_answered_with_paths(doc: dict[str, Any]) -> None:
    """Random envelope-shaped documents yield issues that all carry a `$` path, never a crash."""
    found = default_validator().validate(doc)
    assert all(issue.path.startswith("$") and issue.message for issue in found)
    assert default_validator().validate(msgspec.json.decode(msgspec.json.encode(doc))) == found


def test_envelope_example_is_a_valid_event() -> None:
    """The envelope schema's own example is a complete, valid event (payload included)."""
    for example in default_catalog().envelope.examples:
        assert issues(example) == []
