"""The store's subscriptions and delivery records, on SQLite and PostgreSQL, and migration 0005 both ways."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect

from candystore.store.migrate import current_revision, downgrade, upgrade
from candystore.store.subscriptions import DeliveryRecord, SubscriptionRecord

NOW = datetime(2026, 11, 2, 14, 3, 27, 500000, tzinfo=UTC)
RECORD = SubscriptionRecord(
    name="crm",
    patterns=("retail.offer.#", "github.#"),
    filters=("payload.store_id=S-42",),
    url="https://crm.example.com/in",
    secret="whsec_c2VjcmV0LWZvci10aGUtc3RvcmUtdGVzdHMtLQ==",  # noqa: S106 - a test's own
    retry_delays=(0.5, 60.0),
    concurrency=4,
    timeout=2.5,
    enabled=True,
    disabled_reason=None,
    created_at=NOW,
    created_by="ops",
    updated_at=NOW,
    updated_by="ops",
)


async def test_a_subscription_is_kept_read_back_changed_and_deleted(store) -> None:
    """Every field comes back as written; a name is taken once; changes and deletes say when there is none."""
    assert await store.add_subscription(RECORD)
    assert not await store.add_subscription(replace(RECORD, url="https://other.example.com/"))
    assert await store.subscription("crm") == RECORD
    assert await store.subscriptions() == [RECORD]
    later = NOW + timedelta(minutes=1)
    changed = await store.change_subscription(
        "crm", {"enabled": False, "disabled_reason": "gone", "retry_delays": None, "updated_at": later}
    )
    assert changed == replace(RECORD, enabled=False, disabled_reason="gone", retry_delays=None, updated_at=later)
    assert await store.change_subscription("nobody", {"enabled": False}) is None
    assert await store.remove_subscription("crm") == changed
    assert await store.remove_subscription("crm") is None
    assert await store.subscriptions() == []


async def test_delivery_records_answer_what_was_delivered_and_are_forgotten_after_their_time(store) -> None:
    """A record makes the event delivered for its subscription only; recording it again changes nothing."""
    first, second, never = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old = DeliveryRecord("crm", first, 200, 1, NOW - timedelta(days=40))
    await store.record_deliveries([old, DeliveryRecord("crm", second, 204, 3, NOW)])
    await store.record_deliveries([DeliveryRecord("crm", first, 500, 9, NOW)])
    assert await store.delivered("crm", [first, second, never]) == {first, second}
    assert await store.delivered("audit", [first, second]) == set()
    assert await store.forget_deliveries(before=NOW - timedelta(days=30)) == 1
    assert await store.delivered("crm", [first, second, never]) == {second}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivered=st.sets(st.uuids(), max_size=30), others=st.sets(st.uuids(), max_size=30))
async def test_the_delivered_ones_among_any_ids_are_exactly_those_recorded(store, delivered, others):
    """Whatever ids are recorded and asked, the answer is those recorded, for that subscription alone."""
    subscription, neighbour = f"s-{uuid.uuid4().hex[:8]}", f"n-{uuid.uuid4().hex[:8]}"
    await store.record_deliveries([DeliveryRecord(subscription, event_id, 200, 1, NOW) for event_id in delivered])
    await store.record_deliveries([DeliveryRecord(neighbour, event_id, 200, 1, NOW) for event_id in others])
    asked = list(delivered | others)
    assert await store.delivered(subscription, asked) == delivered
    assert await store.delivered(neighbour, asked) == others


async def test_migration_0005_adds_and_removes_the_delivery_tables(database) -> None:
    """Up to 0005 the two tables exist; down to 0004 they are gone and the rest stays."""
    store = database.store()
    try:
        await upgrade(store.engine)
        assert await current_revision(store.engine) == "0005"
        async with store.engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert {"subscriptions", "deliveries", "events", "dead_letters"} <= tables
        await downgrade(store.engine, "0004")
        async with store.engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert not {"subscriptions", "deliveries"} & tables
        assert {"events", "dead_letters"} <= tables
        await upgrade(store.engine)
        assert await store.add_subscription(RECORD)
    finally:
        await store.close()
