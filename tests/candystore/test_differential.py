"""One definition of a valid event at both ends, proved differentially on generated documents.

Each document, generated from the schemas' examples with fields drawn anew and edge values weighted in (extreme offsets
and years, fractional digits 0-9, lowercase ``t``/``z``, leap seconds, huge integers, deep
nesting, U+0000, duplicate keys, unicode), goes through the gateway's acceptance (a real
gateway on the embedded broker) and, when accepted, through Candystore's write path as the
ingestor runs it (the broker's body parsed by the validator, stored, read back) on SQLite
and PostgreSQL. Accepted ⇒ stored and read back equal; rejected ⇒ 422 with the path of
each problem. There is no third outcome.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bloodbank import BloodbankSettings, Bus, ConsumerSpec, uuid7
from bloodbank.correlation import LocalCorrelationTracker
from bloodbank.gateway import create_gateway
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.transport import Delivery
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.store import EventStore, Outcome
from candystore.store.migrate import upgrade
from holyfields import InvalidEvent, default_catalog, default_validator

CATALOG = default_catalog()
EVENT_TYPES = sorted(str(doc.event_type) for doc in CATALOG.payload_schemas())
TAP = ConsumerSpec("differential.tap", ("#",))
MAX_DEPTH_OF_META = 64 - 3  # the envelope, its source and meta itself are three levels
DUPLICATE_EVENT_TYPE = "duplicate key 'event_type': a key may appear once per object"


# --- documents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """A timestamp as text, and the UTC text the platform must store for it (None: it must be refused)."""

    text: str
    utc: str | None


@st.composite
def stamps(draw: st.DrawFn) -> Stamp:
    """Timestamps, a third of them at the edges; the expected UTC text is computed apart from the platform's parser."""
    at_edge = draw(st.integers(0, 2)) == 0

    def part(usual: st.SearchStrategy[Any], edges: st.SearchStrategy[Any]) -> Any:
        return draw(usual | edges) if at_edge else draw(usual)

    year = part(st.integers(1971, 9998), st.sampled_from([0, 1, 1969, 1970, 9999]))
    month = part(st.integers(1, 12), st.sampled_from([0, 13]))
    day = part(st.integers(1, 28), st.sampled_from([29, 30, 31, 0, 32]))
    hour = part(st.integers(0, 23), st.just(24))
    minute = draw(st.integers(0, 59))
    second = part(st.integers(0, 59), st.just(60))
    digits = part(st.text("0123456789", max_size=6), st.text("0123456789", min_size=7, max_size=9))
    separator = part(st.sampled_from("TTt"), st.just(" "))
    zulu = draw(st.sampled_from(["Z", "z", None]))
    east = draw(st.booleans())
    offset_hours = part(st.integers(0, 14), st.sampled_from([23, 24]))
    offset_minutes = part(st.sampled_from([0, 30, 45]), st.sampled_from([59, 60]))
    offset = zulu or f"{'+' if east else '-'}{offset_hours:02d}:{offset_minutes:02d}"
    fraction = f".{digits}" if digits else ""
    text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"
    if zulu:
        offset_hours = offset_minutes = 0
    if separator == " " or second == 60 or len(digits) > 6 or offset_hours > 23 or offset_minutes > 59:
        return Stamp(text, None)
    try:
        local = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - the offset is applied below
        utc = local - (1 if east else -1) * timedelta(hours=offset_hours, minutes=offset_minutes)
    except (ValueError, OverflowError):
        return Stamp(text, None)
    if not 1970 <= utc.year <= 9999:
        return Stamp(text, None)
    return Stamp(text, f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}Z")


plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**308, -(10**308), 2**63, -(2**63) - 1])
    | st.floats(allow_nan=False, allow_infinity=False)
    # Text a UTF-8 body can carry: no lone surrogates, which are not text.
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
    | st.sampled_from(["Grüße 👋 终", "\u2028", "\ud7ff\ue000", "\\u0000", "'; drop table events"])
)
hostile_scalars = st.sampled_from([10**309, -(10**400), "\x00", "a\x00b"]) | st.text(max_size=12)


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
        max_leaves=10,
    )


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@st.composite
def metas(draw: st.DrawFn) -> dict[str, Any]:
    """Free-form ``source.meta``: a quarter of them with values the platform refuses, some nested past its limit."""
    value = draw(json_values(plain_scalars | hostile_scalars if draw(st.integers(0, 3)) == 0 else plain_scalars))
    if draw(st.integers(0, 9)) == 0:
        value = nested(draw(st.sampled_from([MAX_DEPTH_OF_META - 2, MAX_DEPTH_OF_META, MAX_DEPTH_OF_META + 5])), 1)
    return {"value": value}


@st.composite
def payloads(draw: st.DrawFn, schema: Mapping[str, Any]) -> dict[str, Any]:
    """One of the schema's examples with some fields drawn anew: same JSON type, any value (valid or not)."""
    payload = dict(draw(st.sampled_from(schema["examples"])))
    properties = schema.get("properties", {})
    for field, value in list(payload.items()):
        if draw(st.integers(0, 7)) != 0:
            continue
        if properties.get(field, {}).get("format") == "date-time":
            payload[field] = draw(stamps()).text
        elif isinstance(value, bool):
            payload[field] = draw(st.booleans())
        elif isinstance(value, int):
            payload[field] = draw(st.integers(min_value=-(2**70), max_value=2**70))
        elif isinstance(value, float):
            payload[field] = draw(st.floats(allow_nan=False, allow_infinity=False))
        elif isinstance(value, str):
            payload[field] = draw(st.text(max_size=20))
    return payload


@dataclass(frozen=True)
class Sample:
    """One request to the gateway: its body, and what is known about whether it must be accepted."""

    body: bytes
    document: dict[str, Any]
    stamp: Stamp
    json_refused: bool
    """Whether the document breaks the platform's JSON rules (U+0000, nesting, numbers beyond a double)."""
    duplicate_key: bool


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    schema = CATALOG.get(event_type)
    assert schema is not None
    payload = draw(payloads(schema.content))
    stamp = draw(stamps())
    meta = draw(metas())
    document: dict[str, Any] = {
        "event_id": uuid7(),
        "event_type": event_type,
        "timestamp": stamp.text,
        "version": "1.0.0",
        "source": {"host": "differential", "type": "system", "app": "tests", "meta": meta},
        "correlation_ids": [str(uuid.uuid4()) for _ in range(draw(st.integers(0, 2)))],
        "payload": payload,
    }
    if draw(st.booleans()):
        document["agent_context"] = {"type": "claude", "name": draw(st.text(min_size=1, max_size=10))}
    pretty, ascii_only = draw(st.booleans()), draw(st.booleans())
    body = json.dumps(document, indent=1 if pretty else None, ensure_ascii=ascii_only).encode()
    duplicate_key = draw(st.integers(0, 9)) == 0
    if duplicate_key:  # the same key twice in the envelope: text no encoder of a mapping can write
        body = b'{"event_type": "x.y.v1", ' + body[1:]
    return Sample(body, document, stamp, _refused(document, 1), duplicate_key)


def _refused(value: Any, depth: int) -> bool:
    """Whether a value breaks the platform's JSON rules (an oracle written apart from holyfields)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return False
    if isinstance(value, int):
        return abs(value) > 1.7976931348623157e308
    children = list(value.values()) + list(value.keys()) if isinstance(value, dict) else list(value)
    return depth > 64 or any(_refused(child, depth + 1) for child in children)


# --- the two ends ---------------------------------------------------------------------------


@dataclass
class Ends:
    """A gateway on the embedded broker, a queue that receives what it confirmed, and a store."""

    client: httpx.AsyncClient
    received: asyncio.Queue[bytes]
    store: EventStore


@pytest.fixture
async def ends(database, tmp_path: Path) -> AsyncIterator[Ends]:
    bus = await Bus.start(
        BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0),
        transport=EmbeddedTransport(tmp_path / "bus.sqlite3"),
        idempotency=LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600),
        tracker=LocalCorrelationTracker(ttl=3600),
    )
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def tap(delivery: Delivery) -> None:
        await received.put(delivery.body)
        await delivery.ack()

    await bus.transport.declare_consumer(TAP)
    subscription = await bus.transport.consume(TAP, tap, prefetch=10)
    app = create_gateway(bus=bus)
    await app.state.gateway.start()
    store = database.store()
    await upgrade(store.engine)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    try:
        yield Ends(client, received, store)
    finally:
        await client.aclose()
        await store.close()
        await subscription.stop(timeout=5)
        await bus.close(timeout=5)


def _as_stored(document: dict[str, Any], utc: str) -> dict[str, Any]:
    return {**document, "timestamp": utc}


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(sample=samples())
async def test_accepted_is_stored_and_read_back_equal_rejected_is_422_with_paths(ends: Ends, sample: Sample) -> None:
    """Whatever the gateway accepts Candystore stores and returns equal; whatever it refuses is a 422 with paths."""
    answer = await ends.client.post("/events", content=sample.body, headers={"content-type": "application/json"})
    assert answer.status_code in {202, 422}, answer.text  # no third outcome
    event(f"answered {answer.status_code}")  # --hypothesis-show-statistics shows the mix
    if answer.status_code == 422:
        errors = answer.json()["errors"]
        assert errors
        assert all(isinstance(error["path"], str) and error["path"].startswith("$") for error in errors), errors
        # The JSON itself is judged first, then the schemas (which report every problem).
        duplicate = {"path": "$.event_type", "message": DUPLICATE_EVENT_TYPE}
        if sample.duplicate_key and not sample.json_refused:
            assert errors == [duplicate]
        elif sample.json_refused:  # one problem, with where it is (a duplicate key may be found first)
            assert len(errors) == 1
            assert errors[0]["path"] != "$", errors
            assert sample.duplicate_key or errors != [duplicate]
        elif sample.stamp.utc is None:
            assert any(error["path"] == "$.timestamp" for error in errors), errors
        with pytest.raises(InvalidEvent):  # the consuming end refuses the same text
            default_validator().parse(sample.body)
        return
    assert not sample.duplicate_key
    assert not sample.json_refused, "a document the platform's JSON rules refuse was accepted"
    assert sample.stamp.utc is not None, f"timestamp {sample.stamp.text!r} was accepted"
    assert answer.json() == {"event_id": sample.document["event_id"]}
    body = await asyncio.wait_for(ends.received.get(), 10)
    stored = default_validator().parse(body)  # the ingestor's acceptance of what the broker delivers
    expected = _as_stored(sample.document, sample.stamp.utc)
    results = await ends.store.store_batch([stored])
    assert [result.outcome for result in results] == [Outcome.STORED], results
    read_back = await ends.store.get(sample.document["event_id"])
    assert read_back == expected
    assert msgspec.json.encode(read_back) == msgspec.json.encode(expected)  # types and key order too
