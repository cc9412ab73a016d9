"""Content header frames made from templates are byte for byte what pamqp marshals."""

from __future__ import annotations

from datetime import UTC, datetime

import pamqp.frame
from hypothesis import given
from hypothesis import strategies as st
from pamqp.commands import Basic
from pamqp.common import FieldTable
from pamqp.header import ContentHeader

from bloodbank.transport.rabbitmq.wire import HeaderFrames

RETRY_HEADERS: FieldTable = {"x-bloodbank-attempt": 2, "x-death-reason": "handler raised"}
short_text = st.text(max_size=40).filter(lambda text: len(text.encode()) <= 255)


@st.composite
def properties(draw: st.DrawFn) -> Basic.Properties:
    return Basic.Properties(
        content_type=draw(st.sampled_from(["application/json", "text/plain", None])),
        content_encoding=draw(st.sampled_from([None, "gzip"])),
        headers=draw(st.sampled_from([None, RETRY_HEADERS])),
        delivery_mode=draw(st.sampled_from([None, 1, 2])),
        priority=draw(st.sampled_from([None, 0, 9])),
        message_id=draw(st.one_of(st.none(), short_text)),
        timestamp=draw(st.sampled_from([None, datetime(2026, 11, 30, 12, 0, tzinfo=UTC)])),
        app_id=draw(st.sampled_from([None, "gateway"])),
    )


def pamqp_frame(number: int, props: Basic.Properties, body_size: int) -> bytes:
    return pamqp.frame.marshal(ContentHeader(properties=props, body_size=body_size), number)


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


def test_ids_of_the_same_length_share_a_template_and_keep_their_own_bytes() -> None:
    """Two ids of one length, one with multi-byte characters: each frame carries its own id."""
    frames = HeaderFrames()
    for message_id in ("0193a1b2-0000-7000-8000-000000000001", "0193a1b2-0000-7000-8000-0000000000é", "ü" * 18):
        props = Basic.Properties(content_type="application/json", delivery_mode=2, message_id=message_id)
        assert frames.frame(1, props, 1234) == pamqp_frame(1, props, 1234)
        assert props.message_id == message_id  # the template was made from a copy
