"""The store contract: one suite, run on SQLite (a temporary file) and on PostgreSQL (a private schema)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bloodbank import uuid7
from candystore.store import DeadLetter, EventFilter, InvalidCursor, Outcome
from candystore.store.dead_letters import DeadLetterFilter
from candystore.store.schema import events
from holyfields.wildcards import InvalidPattern

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def envelope(
    event_type: str = "fireflies.transcript.ready.v1",
    *,
    at: datetime | str = BASE,
    parents: list[str] | None = None,
    app: str = "fireflies",
    payload: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    timestamp = at if isinstance(at, str) else at.isoformat().replace("+00:00", "Z")
    return {
        "event_id": extra.pop("event_id", uuid7()),
        "event_type": event_type,
        "timestamp": timestamp,
        "version": "1.0.0",
        "source": {"host": "box", "type": "webhook", "app": app},
        "correlation_ids": parents or [],
        "payload": payload if payload is not None else {"n": 1},
        **extra,
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=json_values)
async def test_round_trip_is_exact_for_any_json(store, meta):
    """Any JSON value in source.meta comes back equal, with its types and key order, after store and get."""
    event = envelope(source={"host": "box", "type": "manual", "app": "x", "meta": meta})
    assert [r.outcome for r in await store.store_batch([event])] == [Outcome.STORED]
    got = await store.get(event["event_id"])
    assert got == event
    assert repr(got) == repr(event)  # repr tells 1 from 1.0, -0.0 from 0.0 and shows key order


async def test_round_trip_keeps_every_field_and_normalises_the_timestamp_to_utc(store):
    """Optional fields, unicode, big and float numbers come back as given; the timestamp turns to UTC."""
    event = envelope(
        at="2026-03-01T14:00:00.123456+02:00",
        payload={"text": "Grüße 👋 \u0000 终", "big": 2**80, "neg": -(2**70), "f": 0.1, "e": 1e-300, "none": None},
        agent_context={"type": "claude", "name": "planner", "system_prompt": "be brief"},
        trace_context={"trace_id": "a" * 32, "span_id": "b" * 16, "trace_flags": "01"},
    )
    await store.store_batch([event])
    got = await store.get(event["event_id"])
    assert got == {**event, "timestamp": "2026-03-01T12:00:00.123456Z"}
    assert list(got) == list(event)


async def _columns(store, event_id: str) -> dict[str, Any]:
    names = ("source", "correlation_ids", "agent_context", "payload", "trace_context", "source_app", "agent_name")
    async with store.engine.connect() as connection:
        found = await connection.execute(
            select(*(events.c[name] for name in names)).where(events.c.event_id == uuid.UUID(event_id))
        )
        return dict(found.one()._mapping)


async def test_the_query_columns_hold_the_envelope_members(store):
    """The typed JSON columns beside the document hold its members; a missing one is null, missing parents []."""
    full = envelope(
        parents=[str(uuid7())],
        agent_context={"type": "claude", "name": "planner"},
        trace_context={"trace_id": "a" * 32, "span_id": "b" * 16, "trace_flags": "01"},
        payload={"nested": {"list": [1, 2.5, None, "x"]}},
    )
    bare = {key: value for key, value in envelope().items() if key != "correlation_ids"}
    nulls = envelope(correlation_ids=None, agent_context=None)
    nul = envelope(app="fire\u0000flies", payload={"text": "a\u0000b", "keep": ["\u0000"]})
    assert {r.outcome for r in await store.store_batch([full, bare, nulls, nul])} == {Outcome.STORED}

    assert await _columns(store, full["event_id"]) == {
        "source": full["source"],
        "correlation_ids": full["correlation_ids"],
        "agent_context": full["agent_context"],
        "payload": full["payload"],
        "trace_context": full["trace_context"],
        "source_app": "fireflies",
        "agent_name": "planner",
    }
    for missing in (bare, nulls):
        columns = await _columns(store, missing["event_id"])
        assert columns["correlation_ids"] == []
        assert (columns["agent_context"], columns["trace_context"], columns["agent_name"]) == (None, None, None)
        assert columns["payload"] == missing["payload"]
    # U+0000 cannot be in JSONB or a PostgreSQL text: the query copies hold U+FFFD, the document keeps it.
    columns = await _columns(store, nul["event_id"])
    assert columns["payload"] == {"text": "a\ufffdb", "keep": ["\ufffd"]}
    assert columns["source"] == {**nul["source"], "app": "fire\ufffdflies"}
    assert columns["source_app"] == "fire\ufffdflies"
    assert await _ids(store, payload={"text": "a\ufffdb"}) == [nul["event_id"]]
    assert (await store.get(nul["event_id"]))["payload"] == nul["payload"]


async def test_get_unknown_or_malformed_id_is_none(store):
    """A missing id and a non-UUID id both read as not found."""
    assert await store.get(str(uuid.uuid4())) is None
    assert await store.get("not-a-uuid") is None


async def test_duplicate_is_absorbed(store):
    """The same event stored twice (in one batch and across batches) is stored once and reported duplicate."""
    event = envelope()
    first = await store.store_batch([event, dict(event)])
    second = await store.store_batch([event])
    assert [r.outcome for r in first + second] == [Outcome.STORED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len((await store.query()).items) == 1


async def test_reused_id_with_different_content_is_a_conflict_and_the_first_is_kept(store):
    """An id reused with another payload is not stored, reported as a conflict with the reason, first one kept."""
    event = envelope(payload={"n": 1})
    other = {**event, "payload": {"n": 2}}
    results = await store.store_batch([event, other])
    later = await store.store_batch([other])
    assert [r.outcome for r in results + later] == [Outcome.STORED, Outcome.CONFLICT, Outcome.CONFLICT]
    assert (
        later[0].reason == f"event_id {event['event_id']} is already stored with different content; the first is kept"
    )
    assert (await store.get(event["event_id"]))["payload"] == {"n": 1}


async def test_unstorable_envelope_is_reported_invalid_and_the_rest_stored(store):
    """An envelope without a UUID id or with a bad timestamp is reported invalid; the others of the batch are stored."""
    good = envelope()
    results = await store.store_batch([envelope(event_id="x1"), envelope(at="yesterday"), good])
    assert [r.outcome for r in results] == [Outcome.INVALID, Outcome.INVALID, Outcome.STORED]
    assert (
        results[1].reason
        == "timestamp 'yesterday' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'"
    )


async def _ids(store, **filters) -> list[str]:
    return [item["event_id"] for item in (await store.query(EventFilter(**filters), limit=1000)).items]


async def test_each_filter_selects_only_matching_events(store):
    """event_type, source_app, since/until, correlation_id and agent_name each narrow the results."""
    root = envelope("github.pr.opened.v1", app="github", at=BASE)
    child = envelope("n8n.workflow.started.v1", app="n8n", at=BASE + timedelta(minutes=1), parents=[root["event_id"]])
    agent = envelope(
        "theboard.meeting.created.v1",
        app="theboard",
        at=BASE + timedelta(minutes=2),
        agent_context={"type": "claude", "name": "scribe"},
    )
    await store.store_batch([agent, child, root])
    assert await _ids(store) == [root["event_id"], child["event_id"], agent["event_id"]]
    assert await _ids(store, event_type="n8n.workflow.started.v1") == [child["event_id"]]
    assert await _ids(store, source_app="github") == [root["event_id"]]
    assert await _ids(store, since=BASE + timedelta(minutes=1)) == [child["event_id"], agent["event_id"]]
    assert await _ids(store, until=BASE + timedelta(minutes=1)) == [root["event_id"]]
    assert await _ids(store, correlation_id=root["event_id"]) == [child["event_id"]]
    assert await _ids(store, correlation_id="nonsense") == []
    assert await _ids(store, agent_name="scribe") == [agent["event_id"]]


async def test_event_type_patterns_follow_amqp_topic_semantics(store):
    """`*` is exactly one word and `#` zero or more, `_` is a literal, and a prefix stops at a word boundary."""
    types = [
        "retail.offer.surfaced.v1",
        "retail.inventory.snapshot.v1",
        "retailx.a.v1",
        "n8n.workflow.started.v1",
        "github.workflow.completed.v1",
        "github.workflow.completed.v2",
        "github.pr_x.opened.v1",
        "github.prax.opened.v1",
    ]
    events = [envelope(t, at=BASE + timedelta(seconds=i)) for i, t in enumerate(types)]
    await store.store_batch(events)

    def having(*indexes: int) -> list[str]:
        return [events[index]["event_id"] for index in indexes]

    assert await _ids(store, event_type="retail.#") == having(0, 1)
    assert await _ids(store, event_type="retail.*") == []
    assert await _ids(store, event_type="retail.*.*.v1") == having(0, 1)
    assert await _ids(store, event_type="*.workflow.*.v1") == having(3, 4)
    assert await _ids(store, event_type="#") == having(*range(len(types)))
    assert await _ids(store, event_type="#.v2") == having(5)
    assert await _ids(store, event_type="github.#.v1") == having(4, 6, 7)
    assert await _ids(store, event_type="#.opened.#") == having(6, 7)
    assert await _ids(store, event_type="github.pr_x.#") == having(6)
    assert await _ids(store, event_type="retail.offer.surfaced.v1") == having(0)
    assert await store.count(EventFilter(event_type="*.workflow.#")) == 3


async def test_a_malformed_pattern_is_refused_before_any_query(store):
    """The store refuses a malformed pattern with InvalidPattern, saying what is wrong."""
    with pytest.raises(InvalidPattern, match="the word 'retail\\*' mixes a wildcard with other characters"):
        await store.query(EventFilter(event_type="retail*"))


async def test_dead_letters_filter_by_pattern(store):
    """Dead letters filter by the same patterns; a letter without a type matches none, not even `#`."""
    letters = [
        DeadLetter(body=b"{}", routing_key=key, headers={"n": index}, event_type=key or None)
        for index, key in enumerate(["retail.offer.surfaced.v1", "n8n.workflow.started.v1", ""])
    ]
    await store.keep_dead_letters(letters)

    async def types(pattern: str) -> list[str]:
        page = await store.dead_letters(DeadLetterFilter(event_type=pattern), limit=10, descending=False)
        return sorted(str(item.event_type) for item in page.items)

    assert await types("retail.#") == ["retail.offer.surfaced.v1"]
    assert await types("*.workflow.*.v1") == ["n8n.workflow.started.v1"]
    assert await types("#") == ["n8n.workflow.started.v1", "retail.offer.surfaced.v1"]


async def test_payload_field_equality_compares_type_and_value(store):
    """Payload filters match equal scalars only: a string never equals a number, booleans and nulls match exactly."""
    a = envelope(at=BASE, payload={"store_id": "s1", "qty": 3, "ok": True, "gone": None})
    b = envelope(at=BASE + timedelta(seconds=1), payload={"store_id": "s2", "qty": 3.0, "ok": False})
    c = envelope(at=BASE + timedelta(seconds=2), payload={"store_id": 1})
    await store.store_batch([a, b, c])
    assert await _ids(store, payload={"store_id": "s1"}) == [a["event_id"]]
    assert await _ids(store, payload={"qty": 3}) == [a["event_id"], b["event_id"]]
    assert await _ids(store, payload={"store_id": "1"}) == []
    assert await _ids(store, payload={"ok": False}) == [b["event_id"]]
    assert await _ids(store, payload={"gone": None}) == [a["event_id"]]
    assert await _ids(store, payload={"store_id": "s2", "qty": 3}) == [b["event_id"]]


async def test_cursor_pages_stay_stable_while_newer_events_arrive(store):
    """Paging by cursor returns every event once, in order, though newer events are stored between pages."""
    first = [envelope(at=BASE + timedelta(seconds=i // 2)) for i in range(7)]  # pairs share a timestamp
    await store.store_batch(first)
    expected = sorted(first, key=lambda e: (e["timestamp"], uuid.UUID(e["event_id"])))
    seen: list[str] = []
    page = await store.query(limit=3)
    seen += [item["event_id"] for item in page.items]
    await store.store_batch([envelope(at=BASE + timedelta(hours=1))])
    while page.next_cursor:
        page = await store.query(limit=3, cursor=page.next_cursor)
        seen += [item["event_id"] for item in page.items]
        if len(seen) < 9:
            await store.store_batch([envelope(at=BASE + timedelta(hours=2, seconds=len(seen)))])
    assert seen[:7] == [e["event_id"] for e in expected]
    assert len(seen) == len(set(seen)) == 9


async def test_descending_pages_are_not_shifted_by_new_events(store):
    """Newest-first paging keeps going back in time when newer events arrive at the head."""
    events = [envelope(at=BASE + timedelta(seconds=i)) for i in range(5)]
    await store.store_batch(events)
    page = await store.query(limit=2, descending=True)
    await store.store_batch([envelope(at=BASE + timedelta(hours=1))])
    rest = await store.query(limit=10, cursor=page.next_cursor, descending=True)
    ids = [e["event_id"] for e in page.items + rest.items]
    assert ids == [e["event_id"] for e in reversed(events)]
    assert rest.next_cursor is None


def _forged_cursor(moment: str, event_id: str = "0" * 32) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([moment, event_id])).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"\x00\xffnot json").decode(),
        _forged_cursor("0001-01-01T00:00:00+14:00"),
        _forged_cursor("9999-12-31T23:59:59-14:00"),
        _forged_cursor("1969-12-31T23:59:59Z"),
        _forged_cursor("2026-03-01T12:00:00Z", "not a uuid"),
        "dGhpcyBpcyDDqQ",  # valid base64 of text that is not a cursor
        "Ω",
    ],
)
async def test_a_cursor_the_store_did_not_issue_is_refused(store, cursor):
    """Garbage, base64 of garbage and forged cursors (an out-of-range time, a bad id) raise InvalidCursor."""
    with pytest.raises(InvalidCursor, match="pass back the next_cursor of a previous page unchanged"):
        await store.query(cursor=cursor)
    with pytest.raises(InvalidCursor):
        await store.dead_letters(DeadLetterFilter(), limit=10, cursor=cursor)


async def test_bad_cursor_and_limit_are_refused(store):
    """A cursor the store did not issue and a limit below one are refused with a clear error."""
    with pytest.raises(InvalidCursor, match="pass back the next_cursor of a previous page unchanged"):
        await store.query(cursor="garbage!")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        await store.query(limit=0)


async def test_trace_of_a_diamond_with_a_missing_parent(store):
    """A diamond under a parent that is not stored traces both ways, with the missing parent as a placeholder."""
    ghost = str(uuid.uuid4())
    top = envelope(at=BASE, parents=[ghost])
    left = envelope(at=BASE + timedelta(seconds=1), parents=[top["event_id"]])
    right = envelope(at=BASE + timedelta(seconds=2), parents=[top["event_id"]])
    bottom = envelope(at=BASE + timedelta(seconds=3), parents=[left["event_id"], right["event_id"]])
    await store.store_batch([bottom, left, right, top])
    trace = await store.trace(bottom["event_id"])
    assert trace is not None
    assert not trace.truncated
    assert set(trace.ancestors) == {left["event_id"], right["event_id"], top["event_id"], ghost}
    assert trace.descendants == []
    nodes = {node.event_id: node for node in trace.nodes}
    assert nodes[ghost].placeholder
    assert nodes[ghost].envelope is None
    assert nodes[top["event_id"]].envelope == top
    assert {(e.parent, e.child) for e in trace.edges} == {
        (ghost, top["event_id"]),
        (top["event_id"], left["event_id"]),
        (top["event_id"], right["event_id"]),
        (left["event_id"], bottom["event_id"]),
        (right["event_id"], bottom["event_id"]),
    }
    down = await store.trace(top["event_id"])
    assert set(down.descendants) == {left["event_id"], right["event_id"], bottom["event_id"]}
    assert down.ancestors == [ghost]


async def test_trace_from_the_middle_keeps_both_parents_of_a_descendant(store):
    """Traced from a middle event, a descendant whose other parent is an ancestor is linked to both."""
    created = envelope(at=BASE)
    started = envelope(at=BASE + timedelta(seconds=1), parents=[created["event_id"]])
    round_ = envelope(at=BASE + timedelta(seconds=2), parents=[started["event_id"]])
    closing = envelope(at=BASE + timedelta(seconds=3), parents=[started["event_id"], round_["event_id"]])
    await store.store_batch([created, started, round_, closing])
    trace = await store.trace(round_["event_id"])
    assert {(e.parent, e.child) for e in trace.edges} == {
        (created["event_id"], started["event_id"]),
        (started["event_id"], round_["event_id"]),
        (started["event_id"], closing["event_id"]),
        (round_["event_id"], closing["event_id"]),
    }


async def test_trace_is_cycle_safe(store):
    """Events that name each other as parents trace without looping, each node once."""
    a_id, b_id = uuid7(), uuid7()
    a = envelope(event_id=a_id, parents=[b_id])
    b = envelope(event_id=b_id, parents=[a_id])
    await store.store_batch([a, b])
    trace = await store.trace(a_id)
    assert sorted(node.event_id for node in trace.nodes) == sorted([a_id, b_id])
    assert {(e.parent, e.child) for e in trace.edges} == {(a_id, b_id), (b_id, a_id)}
    assert trace.ancestors == [b_id]
    assert trace.descendants == [b_id]


async def test_trace_is_bounded_and_says_so(store):
    """A wide fan-out stops at max_nodes with truncated set; unknown ids trace to None."""
    root = envelope()
    children = [envelope(parents=[root["event_id"]]) for _ in range(10)]
    await store.store_batch([root, *children])
    trace = await store.trace(root["event_id"], max_nodes=4)
    assert trace.truncated
    assert len(trace.nodes) == 4
    assert len(trace.edges) == 3
    assert not (await store.trace(root["event_id"])).truncated
    assert await store.trace(str(uuid.uuid4())) is None


async def test_purge_deletes_only_expired_events_of_matching_patterns(store):
    """Retention by pattern removes old matching events and their links, and keeps everything else."""
    now = BASE + timedelta(days=10)
    old_retail = envelope("retail.offer.surfaced.v1", at=BASE, parents=[str(uuid.uuid4())])
    new_retail = envelope("retail.offer.surfaced.v1", at=now - timedelta(days=1))
    old_other = envelope("github.pr.opened.v1", at=BASE)
    await store.store_batch([old_retail, new_retail, old_other])
    assert await store.purge({"retail.#": 7}, now=now) == {"retail.offer.surfaced.v1": 1}
    assert await store.get(old_retail["event_id"]) is None
    assert await store.get(new_retail["event_id"]) is not None
    assert await store.get(old_other["event_id"]) is not None
    assert await store.trace(old_retail["event_id"]) is None
