"""Payload conditions on ``GET /events``: the store's SQL selects what ``Condition.matches`` accepts, on both backends.

The store suite runs on SQLite (a temporary file) and PostgreSQL (a private schema); the property
test holds the SQL of each backend to the Python meaning for generated payloads and conditions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from starlette.datastructures import QueryParams

from candystore.api.params import parse_stream_filter, payload_filters
from candystore.conditions import Condition, InvalidCondition
from candystore.live import matches_filter
from candystore.store import EventFilter, EventStore
from candystore.store.migrate import upgrade
from candystore.store.queries import _conditions as event_conditions
from candystore.store.schema import events
from gumdrop.http_errors import ApiError
from tests.candystore.api_helpers import client_for, errors_of, make_api
from tests.candystore.test_store_contract import BASE, envelope

ORDER: dict[str, Any] = {
    "id": "o-1",
    "total": 42.5,
    "qty": 3,
    "status": "shipped",
    "note": None,
    "paid": True,
    "tags": ["gift", "rush", 7, None, True],
    "customer": {"name": "Ada Lovelace", "tier": "gold", "since": "2024-01-05T10:00:00Z", "0": "key zero"},
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
}
SMALL: dict[str, Any] = {
    "id": "o-2",
    "total": 7,
    "qty": "3",
    "status": "cancelled",
    "tags": "gift wrap",
    "customer": "Ada",
}
BARE: dict[str, Any] = {"id": "o-3"}
PAYLOADS: list[dict[str, Any]] = [ORDER, SMALL, BARE]


async def _stored(store: EventStore, payloads: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """Events with ``payloads`` from an app of their own: (the app, their ids in payload order)."""
    app = f"app-{uuid.uuid4().hex[:12]}"
    batch = [envelope(at=BASE + timedelta(seconds=i), app=app, payload=p) for i, p in enumerate(payloads)]
    await store.store_batch(batch)
    return app, [event["event_id"] for event in batch]


async def _selected(store: EventStore, app: str, ids: list[str], *conditions: str) -> list[int]:
    """The positions (in ``ids``) of the app's events that the store selects for ``conditions``."""
    parsed = tuple(Condition.parse(condition) for condition in conditions)
    page = await store.query(EventFilter(source_app=app, conditions=parsed), limit=1000)
    return sorted(ids.index(item["event_id"]) for item in page.items)


def _expected(payloads: Sequence[dict[str, Any]], *conditions: str) -> list[int]:
    parsed = [Condition.parse(condition) for condition in conditions]
    return [i for i, payload in enumerate(payloads) if all(c.matches(payload) for c in parsed)]


@pytest.fixture
async def orders(store) -> tuple[EventStore, str, list[str]]:
    app, ids = await _stored(store, PAYLOADS)
    return store, app, ids


CASES = {
    # eq, the default: numbers by value, text never equals a number, true is not 1
    "payload.status=shipped": [0],
    "payload.status[eq]=shipped": [0],
    "payload.qty=3": [0],
    "payload.qty=3.0": [0],
    'payload.qty="3"': [1],
    "payload.total=7": [1],
    "payload.paid=true": [0],
    "payload.paid=1": [],
    "payload.note=null": [0],
    "payload.missing=null": [],
    # ne: present and different; an absent field matches no condition but exists=false
    "payload.status[ne]=cancelled": [0],
    "payload.qty[ne]=3": [1],
    "payload.note[ne]=x": [0],
    # lt / gt: numbers with numbers, text with text (code points), nothing else
    "payload.total[gt]=10": [0],
    "payload.total[lt]=10": [1],
    "payload.total[lt]=42.5": [1],
    "payload.total[gt]=42.5": [],
    "payload.qty[lt]=5": [0],  # SMALL's qty is the text "3": not ordered with a number
    'payload.qty[lt]="5"': [1],
    "payload.status[lt]=d": [1],
    "payload.status[gt]=Z": [0, 1],  # lower case sorts after upper case by code point
    "payload.customer.since[gt]=2024-01-01T00:00:00Z": [0],
    "payload.paid[gt]=false": [],
    "payload.note[lt]=1": [],
    # contains: a substring of text, an item of an array
    "payload.tags[contains]=gift": [0, 1],
    "payload.tags[contains]=wrap": [1],
    "payload.tags[contains]=gif": [1],  # an array's item must equal, not hold, the value
    "payload.tags[contains]=7": [0],
    "payload.tags[contains]=7.0": [0],
    'payload.tags[contains]="7"': [],
    "payload.tags[contains]=true": [0],
    "payload.tags[contains]=null": [0],
    "payload.status[contains]=ship": [0],
    "payload.status[contains]=": [0, 1],
    "payload.qty[contains]=3": [],  # a number holds nothing
    # exists: present (null counts) or absent
    "payload.note[exists]=true": [0],
    "payload.note[exists]=false": [1, 2],
    "payload.status[exists]=false": [2],
    # nested paths: object keys, array indexes, and a digit key that is an object's key
    "payload.customer.tier=gold": [0],
    "payload.customer.name[contains]=Love": [0],
    "payload.customer.name[exists]=true": [0],
    "payload.customer.name[exists]=false": [1, 2],  # SMALL's customer is text: nothing is below it
    "payload.items.0.sku=A-1": [0],
    "payload.items.1.qty[lt]=2": [0],
    "payload.items.2.sku[exists]=true": [],
    "payload.items.sku=A-1": [],  # an array is stepped into by index only
    "payload.customer.0=key zero": [0],
    "payload.tags.0=gift": [0],
    "payload.tags.00=gift": [0],
    "payload.id.0=o": [],  # text is not stepped into
    "payload.qty.0[exists]=true": [],  # nor is a number, though PostgreSQL's `3 -> 0` answers 3
}


@pytest.mark.parametrize("condition", list(CASES))
async def test_each_operator_selects_what_the_condition_matches(orders, condition):
    """Each operator, on flat and nested paths, selects the events its documented meaning says, as Python does."""
    store, app, ids = orders
    assert await _selected(store, app, ids, condition) == CASES[condition]
    assert _expected(PAYLOADS, condition) == CASES[condition]


async def test_conditions_combine_and_the_plain_field_filter_still_works(orders):
    """Several conditions must all hold; EventFilter.payload (top-level equality) means what it meant."""
    store, app, ids = orders
    assert await _selected(store, app, ids, "payload.total[gt]=5", "payload.total[lt]=10") == [1]
    assert await _selected(store, app, ids, "payload.tags[contains]=gift", "payload.status[ne]=shipped") == [1]
    page = await store.query(EventFilter(source_app=app, payload={"status": "shipped", "qty": 3}))
    assert [item["event_id"] for item in page.items] == [ids[0]]


async def test_keys_holding_quotes_backslashes_and_unicode_are_found(store):
    """Keys are matched as they are, whatever JSON escaping they need, on both backends."""
    payloads: list[dict[str, Any]] = [{'say "hi"': {"back\\slash": 1, "Grüße 👋": "ja", "$ *": True}}, {"other": 1}]
    app, ids = await _stored(store, payloads)
    assert await _selected(store, app, ids, 'payload.say "hi".back\\slash=1') == [0]
    assert await _selected(store, app, ids, 'payload.say "hi".Grüße 👋[contains]=a') == [0]
    assert await _selected(store, app, ids, 'payload.say "hi".$ *=true') == [0]
    assert await _selected(store, app, ids, 'payload.say "hi"[exists]=false') == [1]


async def test_text_holding_json_is_not_stepped_into(store):
    """A string whose text is JSON is a string: a path does not continue inside it, contains looks at its text."""
    payloads = [{"raw": '{"a": 1}', "list": '["x"]'}]
    app, ids = await _stored(store, payloads)
    assert await _selected(store, app, ids, "payload.raw.a=1") == []
    assert await _selected(store, app, ids, "payload.raw.a[exists]=true") == []
    assert await _selected(store, app, ids, "payload.list[contains]=x") == [0]  # the substring x
    assert await _selected(store, app, ids, 'payload.list[contains]="[\\"x"') == [0]


@pytest.mark.postgres
async def test_equality_on_object_keys_is_served_by_the_gin_index(postgres_database):
    """On PostgreSQL, eq on a path of object keys is jsonb containment, which the GIN jsonb_path_ops index serves."""
    event_store = postgres_database.store()
    await upgrade(event_store.engine)
    try:
        await _stored(event_store, [ORDER, SMALL] * 20)
        filters = EventFilter(conditions=(Condition.parse("payload.customer.tier=gold"),))
        statement = select(func.count()).select_from(events).where(*event_conditions("postgresql", filters))
        async with event_store.engine.connect() as connection:
            await connection.execute(text("SET enable_seqscan = off"))  # a small table: make the planner show its hand
            compiled = statement.compile(connection.sync_connection, compile_kwargs={"literal_binds": True})
            plan = "\n".join(row[0] for row in await connection.execute(text(f"EXPLAIN {compiled}")))
            assert "ix_events_payload_gin" in plan, plan
            assert await connection.scalar(statement) == 20
    finally:
        await event_store.close()


# --- the invariant: the SQL of each backend selects what Condition.matches accepts -----------------

KEYS = st.sampled_from(["a", "b", "0", "1", "x y", 'q"', "ü"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    # Within ±2**53 integers and doubles compare exactly on both backends (beyond, an integer compared
    # with a fraction may be compared as a double); 64-bit integers compare exactly among themselves.
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 0.5, 1.0, "", "a", "ab", "b", "A", "é", "a b"]),
    # PostgreSQL holds no U+0000 in a query column (the store drops it there) and no lone surrogate.
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)
PAYLOAD = st.dictionaries(KEYS, VALUES, max_size=4)
OPERATORS = st.sampled_from(["", "[eq]", "[ne]", "[lt]", "[gt]", "[contains]"])


def _leaves(value: Any) -> list[Any]:
    """The scalars in ``value``, to draw condition values that hit."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@st.composite
def conditions(draw: st.DrawFn, payloads: list[dict[str, Any]]) -> str:
    path = ".".join(draw(st.lists(KEYS, min_size=1, max_size=3)))
    if draw(st.integers(0, 6)) == 0:
        return f"payload.{path}[exists]={draw(st.sampled_from(['true', 'false']))}"
    seen = [leaf for payload in payloads for leaf in _leaves(payload)]
    from_payloads = bool(seen) and draw(st.booleans())
    value = draw(st.sampled_from(seen) if from_payloads else SCALARS)
    written = json.dumps(value)  # ASCII: every line break escaped
    if isinstance(value, str) and draw(st.booleans()) and _unquoted(value):
        written = value  # text as users write it, unquoted
    return f"payload.{path}{draw(OPERATORS)}={written}"


def _unquoted(value: str) -> bool:
    """Whether ``value`` written as it is reads back as this text (one line, and not a JSON scalar)."""
    try:
        return bool(Condition.parse(f"payload.k={value}").value == value)
    except InvalidCondition:
        return False


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_sql_selects_exactly_what_condition_matches_accepts(store, data):
    """For generated payloads and conditions, the store selects the events Condition.matches accepts."""
    payloads = data.draw(st.lists(PAYLOAD, min_size=1, max_size=5), label="payloads")
    chosen = data.draw(st.lists(conditions(payloads), min_size=1, max_size=4), label="conditions")
    app, ids = await _stored(store, payloads)
    for condition in chosen:
        assert await _selected(store, app, ids, condition) == _expected(payloads, condition), condition
    assert await _selected(store, app, ids, *chosen) == _expected(payloads, *chosen)


# --- the live stream ---------------------------------------------------------------------------------


def test_the_live_stream_reads_and_checks_the_same_conditions():
    """The stream's filter takes payload conditions as GET /events does and checks them with Condition.matches."""
    filters = parse_stream_filter(QueryParams("payload.customer.tier=gold&payload.total[gt]=40&payload.qty=3"))
    assert matches_filter(filters, envelope(payload=ORDER))
    assert not matches_filter(filters, envelope(payload=SMALL))
    assert not matches_filter(filters, envelope(payload={**ORDER, "total": 40}))
    with pytest.raises(ApiError) as refused:
        parse_stream_filter(QueryParams("payload.total[over]=40"))
    assert [(issue.path, issue.message) for issue in refused.value.errors] == [
        ("query.payload.total[over]", "unknown operator 'over'; use one of eq, ne, lt, gt, contains, exists")
    ]


# --- GET /events -------------------------------------------------------------------------------------


@pytest.fixture
async def client(store, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_api(store, tmp_path)) as api:
        yield api


async def test_get_events_takes_payload_conditions(store, client):
    """GET /events applies each payload.PATH[op]=value parameter, and payload.FIELD=value as before."""
    app, ids = await _stored(store, PAYLOADS)

    async def selected(params: dict[str, str]) -> list[int]:
        response = await client.get("/events", params={"source_app": app, **params})
        assert response.status_code == 200, response.text
        return sorted(ids.index(item["event_id"]) for item in response.json()["items"])

    assert await selected({"payload.status": "shipped"}) == [0]
    assert await selected({"payload.total[gt]": "10"}) == [0]
    assert await selected({"payload.customer.tier[eq]": "gold", "payload.qty[lt]": "5"}) == [0]
    assert await selected({"payload.items.0.sku[contains]": "A"}) == [0]
    assert await selected({"payload.note[exists]": "false"}) == [1, 2]
    assert await selected({"payload.status[ne]": "shipped"}) == [1]


BAD = {
    "payload.price[between]=1": (
        "query.payload.price[between]",
        "unknown operator 'between'; use one of eq, ne, lt, gt, contains, exists",
    ),
    "payload.price[exists]=yes": (
        "query.payload.price[exists]",
        "exists takes true or false, e.g. 'payload.quantity[exists]=true'",
    ),
    "payload.a..b=1": (
        "query.payload.a..b",
        "the path has an empty key (two dots in a row, or a dot at its end)",
    ),
    "payload.a.=1": ("query.payload.a.", "the path has an empty key (two dots in a row, or a dot at its end)"),
    "payload.a[gt=1": (
        "query.payload.a[gt",
        "expected payload.PATH[op]=value, e.g. 'payload.store_id=S-42' or 'payload.price[gt]=30'",
    ),
    "payload.a%3Db=1": ("query.payload.a=b", "a payload path holds no '=': name a field, e.g. payload.store_id=s1"),
    "payload.a=x%0Ay": ("query.payload.a", "a condition is one line: no line break in its path or its value"),
    f"payload.a[lt]={2**64}": (
        "query.payload.a[lt]",
        f"{2**64} is beyond 64-bit integers, which are all a filter compares",
    ),
    f"payload.a[gt]={'9' * 1000}": ("query.payload.a[gt]", "it is longer than 1000 characters"),
    "payload.a[gt]=1&payload.a[gt]=2": ("query.payload.a[gt]", "given more than once: give it once"),
    "payload.=1": ("query.payload.", "name a payload field, e.g. payload.store_id=s1"),
}


@pytest.mark.parametrize("query", list(BAD))
async def test_a_bad_condition_is_a_422_naming_it_and_saying_why(client, query):
    """An invalid payload condition is refused with 422, its parameter named as query.payload.… and the reason."""
    response = await client.get(f"/events?{query}")
    assert response.status_code == 422, response.text
    assert errors_of(response) == [BAD[query]]


async def test_every_bad_condition_is_reported_at_once(client):
    """Two bad conditions in one query: both are named in the one 422."""
    response = await client.get("/events?payload.a[x]=1&payload.b[exists]=maybe&payload.c=1")
    assert response.status_code == 422
    assert [path for path, _ in errors_of(response)] == ["query.payload.a[x]", "query.payload.b[exists]"]


def test_payload_filters_still_reads_plain_equalities_and_refuses_the_rest():
    """payload_filters, for a route that takes equalities only, reads them as before and refuses an operator."""
    assert payload_filters(QueryParams("payload.store_id=s1&payload.qty=3&event_type=x")) == {
        "store_id": "s1",
        "qty": 3,
    }
    with pytest.raises(ApiError) as refused:
        payload_filters(QueryParams("payload.qty[gt]=3"))
    assert [(issue.path, issue.message) for issue in refused.value.errors] == [
        ("query.payload.qty[gt]", "this route takes payload.FIELD=value equalities only")
    ]


async def test_the_openapi_document_describes_payload_conditions(client):
    """GET /events' description gives the syntax, every operator and the limits of a condition."""
    operation = (await client.get("/openapi.json")).json()["paths"]["/events"]["get"]
    description = operation["description"]
    assert "payload.PATH[op]=value" in description
    for op in ("`eq`", "`ne`", "`lt`", "`gt`", "`contains`", "`exists`"):
        assert op in description
    assert "1000 characters" in description
