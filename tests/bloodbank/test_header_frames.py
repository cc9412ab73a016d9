"""Content header frames made from templates are byte for byte what pamqp marshals."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pamqp.frame
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp.commands import Basic
from pamqp.common import FieldTable, FieldValue
from pamqp.header import ContentHeader

from bloodbank.transport.rabbitmq import wire
from bloodbank.transport.rabbitmq.wire import HeaderFrames

RETRY_HEADERS: FieldTable = {"x-bloodbank-attempt": 2, "x-death-reason": "handler raised"}
KEY_ID = "bloodbank-2026-11"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
short_text = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 255)
header_names = st.text(max_size=20)  # at most 80 bytes: pamqp truncates names past 128
header_values = st.one_of(st.text(max_size=60), st.sampled_from(["", "é", "ü" * 22, "s" * 44, TRACEPARENT]))
other_values: st.SearchStrategy[FieldValue] = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(width=32, allow_nan=False),  # pamqp writes a float in 4 bytes
    st.none(),
    st.just(Decimal("1.5")),
    st.dictionaries(header_names, st.text(max_size=10), max_size=2),
    st.binary(max_size=10).map(bytearray),
)
SHARED = HeaderFrames()
"""Reused by every example of the property tests, so templates made for one are used by others."""


@st.composite
def str_headers(draw: st.DrawFn) -> FieldTable | None:
    """None, or 0-4 names with str values, and now and then one value of another type."""
    shape = draw(st.sampled_from(["str"] * 6 + ["none", "mixed"]))
    if shape == "none":
        return None
    headers: FieldTable = dict(draw(st.dictionaries(header_names, header_values, max_size=4)))
    if shape == "mixed":
        headers[draw(header_names)] = draw(other_values)
    return headers


@st.composite
def properties(
    draw: st.DrawFn,
    message_ids: st.SearchStrategy[str | None] = st.one_of(st.none(), short_text),
    headers: st.SearchStrategy[FieldTable | None] = st.sampled_from([None, RETRY_HEADERS]),
) -> Basic.Properties:
    return Basic.Properties(
        content_type=draw(st.sampled_from(["application/json", "text/plain", None])),
        content_encoding=draw(st.sampled_from([None, "gzip"])),
        headers=draw(headers),
        delivery_mode=draw(st.sampled_from([None, 1, 2])),
        priority=draw(st.sampled_from([None, 0, 9])),
        correlation_id=draw(st.sampled_from([None, "0193a1b2-0000-7000-8000-00000000000c"])),
        reply_to=draw(st.sampled_from([None, "amq.rabbitmq.reply-to"])),
        expiration=draw(st.sampled_from([None, "60000"])),
        message_id=draw(message_ids),
        timestamp=draw(st.sampled_from([None, datetime(2026, 11, 30, 12, 0, tzinfo=UTC)])),
        message_type=draw(st.sampled_from([None, "order.created"])),
        user_id=draw(st.sampled_from([None, "guest"])),
        app_id=draw(st.sampled_from([None, "gateway", "çà-service"])),
    )


def pamqp_frame(number: int, props: Basic.Properties, body_size: int) -> bytes:
    return pamqp.frame.marshal(ContentHeader(properties=props, body_size=body_size), number)


def same_kind(props: Basic.Properties) -> Basic.Properties:
    """``props`` with the id and each header value reversed: other values of the same lengths in bytes."""
    headers = props.headers
    return Basic.Properties(
        **{name: getattr(props, name) for name in props.__slots__ if name not in {"message_id", "headers"}},
        message_id=None if props.message_id is None else props.message_id[::-1],
        headers=None
        if headers is None
        else {name: value[::-1] if isinstance(value, str) else value for name, value in headers.items()},
    )


def signed(message_id: str, payload: bytes, *, traced: bool = False) -> Basic.Properties:
    headers: FieldTable = {
        "x-bloodbank-key-id": KEY_ID,
        "x-bloodbank-signature": base64.b64encode(hashlib.sha256(payload).digest()).decode(),
    }
    if traced:
        headers["traceparent"] = TRACEPARENT
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message_id,
        timestamp=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        app_id="gateway",
        headers=headers,
    )


@given(
    number=st.integers(min_value=1, max_value=2047),
    kinds=st.lists(properties(), min_size=1, max_size=4),
    sizes=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=8),
)
def test_every_frame_is_the_one_pamqp_marshals(number: int, kinds: list[Basic.Properties], sizes: list[int]) -> None:
    """Across kinds of message and body sizes, and for ids of every length and script, with templates reused."""
    frames = HeaderFrames()
    for props in kinds:
        for size in sizes:
            assert frames.frame(number, props, size) == pamqp_frame(number, props, size)


@settings(max_examples=300)
@given(
    number=st.integers(min_value=1, max_value=3),
    props=properties(
        message_ids=st.one_of(
            st.text(min_size=1, max_size=60),  # at most 240 bytes: an id is a short string
            st.sampled_from([None, "", "0193a1b2-0000-7000-8000-000000000001", "ü" * 18]),
        ),
        headers=str_headers(),
    ),
    sizes=st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=4),
)
def test_frames_with_str_headers_are_the_ones_pamqp_marshals(
    number: int, props: Basic.Properties, sizes: list[int]
) -> None:
    """With str headers of any names, lengths and scripts, from templates kept across examples and new ones alike."""
    sibling = same_kind(props)
    for frames in (SHARED, HeaderFrames()):
        for size in sizes:
            assert frames.frame(number, props, size) == pamqp_frame(number, props, size)
            kept = len(frames._templates)
            assert frames.frame(number, sibling, size) == pamqp_frame(number, sibling, size)
            assert len(frames._templates) == kept  # the sibling's kind is the same: no template of its own
    assert len(SHARED._templates) <= wire._HEADER_TEMPLATES_KEPT


def test_signed_messages_of_one_kind_share_a_template_and_keep_their_own_id_and_signature() -> None:
    """Messages differing only in id and signature (and one id with multi-byte characters) take one template each."""
    frames = HeaderFrames()
    for traced in (False, True):
        sent = [
            signed("0193a1b2-0000-7000-8000-000000000001", b'{"n": 1}', traced=traced),
            signed("0193a1b2-0000-7000-8000-000000000002", b'{"n": 2}', traced=traced),
            signed("0193a1b2-0000-7000-8000-0000000000é", b'{"n": 3}', traced=traced),
        ]
        made = [frames.frame(5, props, 1234 + n) for n, props in enumerate(sent)]
        assert made == [pamqp_frame(5, props, 1234 + n) for n, props in enumerate(sent)]
        assert len(set(made)) == len(sent)
    assert len(frames._templates) == 2  # one kind untraced, one traced


def test_headers_with_other_values_are_marshalled_by_pamqp_without_a_template() -> None:
    """A retry copy's headers (an int among them) and empty headers make no template, and still match pamqp."""
    frames = HeaderFrames()
    cases: tuple[FieldTable, ...] = (RETRY_HEADERS, {"x-bloodbank-signature": "s" * 44, "x-flag": True}, {})
    for headers in cases:
        props = Basic.Properties(content_type="application/json", message_id="0" * 36, headers=headers)
        assert frames.frame(1, props, 99) == pamqp_frame(1, props, 99)
    assert frames._templates == {}


def test_templates_kept_are_bounded() -> None:
    """More kinds than are kept: the cache starts over instead of growing, and frames stay right."""
    frames = HeaderFrames()
    for n in range(wire._HEADER_TEMPLATES_KEPT + 10):
        props = signed("0193a1b2-0000-7000-8000-000000000001", b"{}")
        assert frames.frame(n + 1, props, n) == pamqp_frame(n + 1, props, n)  # one kind per channel
        assert len(frames._templates) <= wire._HEADER_TEMPLATES_KEPT


def test_ids_of_the_same_length_share_a_template_and_keep_their_own_bytes() -> None:
    """Two ids of one length, one with multi-byte characters: each frame carries its own id."""
    frames = HeaderFrames()
    for message_id in ("0193a1b2-0000-7000-8000-000000000001", "0193a1b2-0000-7000-8000-0000000000é", "ü" * 18):
        props = Basic.Properties(content_type="application/json", delivery_mode=2, message_id=message_id)
        assert frames.frame(1, props, 1234) == pamqp_frame(1, props, 1234)
        assert props.message_id == message_id  # the template was made from a copy
