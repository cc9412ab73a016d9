"""JSON as the platform accepts it: one key per object, bounded nesting, no U+0000, numbers within a double."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gumdrop.strict_json import MAX_DEPTH, InvalidJson, check_json_value, decode_json


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (b'{"a": 1, "a": 2}', "$.a", "duplicate key 'a': a key may appear once per object"),
        (b'{"x": {"p": [1, {"q": 1, "q": 2}]}}', "$.x.p[1].q", "duplicate key 'q': a key may appear once per object"),
        (b'{"a": "x\\u0000"}', "$.a", "contains the character U+0000, which no stored text can hold"),
        (
            b'{"k\\u0000": 1}',
            '$["k\\u0000"]',
            "the key contains the character U+0000, which no stored text can hold",
        ),
        (
            b'{"n": 1' + b"0" * 400 + b"}",
            "$.n",
            "the number 10000000000000000000… (401 digits) is beyond the range of a double",
        ),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "$" + "[0]" * MAX_DEPTH, f"nested deeper than {MAX_DEPTH} "),
        (b"[" * 10_000 + b"]" * 10_000, "$", f"nested deeper than {MAX_DEPTH} "),
        (b'{"f": 1e400}', "$", "not valid JSON: Number out of range"),
        (b'{"a": ', "$", "not valid JSON: Input data was truncated"),
    ],
)
def test_refused_documents_say_where_and_why(text: bytes, path: str, message: str) -> None:
    """Each refusal names the JSON path of the offending value and what is wrong with it."""
    with pytest.raises(InvalidJson) as refused:
        decode_json(text)
    assert refused.value.path == path
    assert refused.value.message.startswith(message)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """A document exactly MAX_DEPTH containers deep is fine."""
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert decode_json(deep) == json.loads(deep)


def test_the_largest_double_and_big_integers_within_it_stay_exact() -> None:
    """Integers of any size up to a double's range are accepted and kept exactly."""
    big = int(1.7976931348623157e308)
    assert decode_json(f'{{"n": {big}, "m": {-big}, "k": {2**200}}}') == {"n": big, "m": -big, "k": 2**200}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(value=json_values, pretty=st.booleans())
def test_decoding_agrees_with_the_standard_library_on_what_it_accepts(value: object, pretty: bool) -> None:
    """Whatever the rules allow decodes to what json.loads gives, compact or pretty; the rest is refused."""
    text = json.dumps(value, indent=1 if pretty else None).encode()
    try:
        check_json_value(value)
    except InvalidJson:
        with pytest.raises(InvalidJson):
            decode_json(text)
        return
    assert decode_json(text) == json.loads(text)
    assert decode_json(msgspec.json.encode(value)) == json.loads(text)


def test_the_check_of_encoded_text_finds_what_the_walk_finds() -> None:
    """Handing over the encoded text gives the same answer as walking the value."""
    value = {"a": [{"b": "x\x00"}]}
    with pytest.raises(InvalidJson) as refused:
        check_json_value(value, encoded=msgspec.json.encode(value))
    assert refused.value.path == "$.a[0].b"
