"""Payload conditions (``payload.PATH[op]=value``): what each operator matches, and what is refused."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from candystore.conditions import matches_all
from candystore.deliveries import Condition, InvalidCondition

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12),
)
NUMBERS = st.one_of(st.integers(min_value=-(10**9), max_value=10**9), st.floats(-1e9, 1e9, allow_nan=False))


def written(value: Any) -> str:
    """How a user writes ``value`` after the ``=``: as JSON."""
    return msgspec.json.encode(value).decode()


@given(payload=st.dictionaries(KEYS, SCALARS, min_size=1), data=st.data())
def test_a_present_field_equals_its_own_value_and_nothing_else_says_otherwise(payload, data) -> None:
    """For any field present: eq its value holds, ne does not, exists=true holds, exists=false does not."""
    key = data.draw(st.sampled_from(sorted(payload)))
    value = written(payload[key])
    assert Condition.parse(f"payload.{key}={value}").matches(payload)
    assert Condition.parse(f"payload.{key}[eq]={value}").matches(payload)
    assert not Condition.parse(f"payload.{key}[ne]={value}").matches(payload)
    assert Condition.parse(f"payload.{key}[exists]=true").matches(payload)
    assert not Condition.parse(f"payload.{key}[exists]=false").matches(payload)


@given(payload=st.dictionaries(KEYS, SCALARS), key=KEYS, value=SCALARS)
def test_only_exists_false_matches_an_absent_field(payload, key, value) -> None:
    """A condition on a field the payload lacks is false, but for exists=false."""
    payload.pop(key, None)
    for op in ("eq", "ne", "contains"):
        assert not Condition.parse(f"payload.{key}[{op}]={written(value)}").matches(payload)
    assert Condition.parse(f"payload.{key}[exists]=false").matches(payload)


@given(field=NUMBERS, value=NUMBERS)
def test_lt_and_gt_order_numbers_as_numbers(field, value) -> None:
    """lt and gt agree with the numbers' order; neither holds for equal numbers, whatever int or float."""
    payload = {"price": field}
    less = Condition.parse(f"payload.price[lt]={written(value)}").matches(payload)
    greater = Condition.parse(f"payload.price[gt]={written(value)}").matches(payload)
    assert less == (field < value)
    assert greater == (field > value)
    assert not (less and greater)


@given(text=st.text(alphabet="abcxyz-", min_size=1, max_size=10), piece=st.text(alphabet="abcxyz-", max_size=3))
def test_contains_finds_a_piece_of_text_or_an_item_of_an_array(text, piece) -> None:
    """contains is substring for text, membership (by JSON equality) for arrays."""
    assert Condition.parse(f"payload.name[contains]={piece}").matches({"name": text}) == (piece in text)
    assert Condition.parse(f"payload.tags[contains]={piece}").matches({"tags": [text, 1]}) == (piece == text)


@pytest.mark.parametrize(
    ("condition", "payload", "expected"),
    [
        ("payload.store_id=S-42", {"store_id": "S-42"}, True),  # not JSON: read as text
        ('payload.store_id="42"', {"store_id": "42"}, True),
        ("payload.store_id=42", {"store_id": "42"}, False),  # a number is not the text
        ("payload.quantity=1", {"quantity": 1.0}, True),
        ("payload.in_stock=1", {"in_stock": True}, False),  # true is not 1
        ("payload.note=null", {"note": None}, True),
        ("payload.note[exists]=true", {"note": None}, True),  # present as null counts
        ("payload.items.0.sku=A", {"items": [{"sku": "A"}]}, True),
        ("payload.items.1.sku=A", {"items": [{"sku": "A"}]}, False),
        ("payload.meta.team=ops", {"meta": {"team": "ops"}}, True),
        ("payload.meta.team=ops", {"meta": "ops"}, False),
        ("payload.surfaced_at[gt]=2026-01-01T00:00:00Z", {"surfaced_at": "2026-03-01T10:00:00Z"}, True),
        ("payload.price[gt]=10", {"price": "20"}, False),  # text against a number: no order
        ("payload.tags[contains]=7", {"tags": [7.0]}, True),
        ("payload.a=x=y", {"a": "x=y"}, True),  # the value is everything after the first '='
        ("payload.price[lt]=null", {"price": 3}, False),  # null is not ordered
        ("payload.price[gt]=true", {"price": True}, False),
        ("payload.a key=x", {"a key": "x"}, True),
    ],
)
def test_each_operator_on_examples(condition: str, payload: dict[str, Any], expected: bool) -> None:
    """Examples of each operator, paths through objects and arrays, and how values are read."""
    assert Condition.parse(condition).matches(payload) is expected


def test_every_condition_must_hold() -> None:
    """Conditions are and-ed; none at all matches any payload."""
    conditions = [Condition.parse("payload.store_id=S-1"), Condition.parse("payload.price[lt]=100")]
    assert matches_all(conditions, {"store_id": "S-1", "price": 39.98})
    assert not matches_all(conditions, {"store_id": "S-1", "price": 100})
    assert matches_all([], {})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("store_id=S-1", "it must start with 'payload.', e.g. 'payload.store_id=S-42' or 'payload.price[gt]=30'"),
        ("payload.store_id", "expected payload.PATH[op]=value, e.g. 'payload.store_id=S-42' or 'payload.price[gt]=30'"),
        ("payload.=1", "expected payload.PATH[op]=value, e.g. 'payload.store_id=S-42' or 'payload.price[gt]=30'"),
        ("payload.a..b=1", "the path has an empty key (two dots in a row, or a dot at its end)"),
        ("payload.a=line\nbreak", "a condition is one line: no line break in its path or its value"),
        ("payload.price[gte]=1", "unknown operator 'gte'; use one of eq, ne, lt, gt, contains, exists"),
        ("payload.x[exists]=1", "exists takes true or false, e.g. 'payload.quantity[exists]=true'"),
        ("payload." + "x" * 1000 + "=1", "it is longer than 1000 characters"),
    ],
)
def test_what_is_not_a_condition_says_why(text: str, reason: str) -> None:
    """A malformed condition names itself and what is wrong."""
    with pytest.raises(InvalidCondition) as raised:
        Condition.parse(text)
    assert raised.value.reason == reason
    assert str(raised.value).endswith(f"is not a payload condition: {reason}")


def test_a_float_value_keeps_its_meaning() -> None:
    """A value written as 1e3 is the number 1000."""
    condition = Condition.parse("payload.total[gt]=1e3")
    assert math.isclose(condition.value, 1000.0)
    assert condition.matches({"total": 1001})
