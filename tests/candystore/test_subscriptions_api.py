"""``/subscriptions`` over a real store (SQLite and PostgreSQL): validation, the secret shown once, changes, keys."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from standardwebhooks import Webhook

from candystore.deliveries import Subscription, SubscriptionCatalog, SubscriptionSource
from gumdrop.access_control import Access
from gumdrop.principals import Client, KeyRing, Scope, hash_key
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from tests.candystore.api_helpers import client_for, errors_of, make_api

SECRET = "whsec_" + base64.b64encode(b"a-secret-of-thirty-two-bytes-xyz").decode()
BODY = {"name": "crm-offers", "patterns": ["retail.offer.#"], "url": "https://crm.example.com/hooks/33god"}


@pytest.fixture
async def client(store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_api(store, tmp_path)) as api:
        yield api


async def created(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/subscriptions", json={**BODY, **fields})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_creating_answers_the_secret_once_and_never_again(client: httpx.AsyncClient) -> None:
    """POST makes a Standard Webhooks secret and answers it; GET and the list never show it."""
    answer = await created(client)
    secret = answer.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 32
    Webhook(secret)  # a secret the receivers' library takes
    assert answer["consumer"] == "delivery.crm-offers"
    assert (answer["source"], answer["enabled"], answer["running"]) == ("api", True, None)
    assert (answer["retry_delays"], answer["concurrency"], answer["timeout"]) == (None, 16, 10.0)
    assert len(answer["retry_schedule"]) == 6  # the platform's tiers, spread
    assert answer["created_by"] == answer["updated_by"] == "anonymous"
    one = (await client.get("/subscriptions/crm-offers")).json()
    listed = (await client.get("/subscriptions")).json()["items"]
    assert "secret" not in one
    assert [set(item) for item in listed] == [set(one)]
    assert one == answer


async def test_a_given_secret_and_settings_are_kept(client: httpx.AsyncClient, store) -> None:
    """Own secret, filters, tiers, concurrency, timeout and enabled are kept as given."""
    answer = await created(
        client,
        secret=SECRET,
        filters=["payload.store_id=S-42", "payload.price[gt]=30"],
        retry_delays=[1, 60],
        concurrency=4,
        timeout=2.5,
        enabled=False,
    )
    assert answer["secret"] == SECRET
    assert answer["filters"] == ["payload.store_id=S-42", "payload.price[gt]=30"]
    assert (answer["retry_delays"], answer["concurrency"], answer["timeout"], answer["enabled"]) == (
        [1.0, 60.0],
        4,
        2.5,
        False,
    )
    record = await store.subscription("crm-offers")
    assert record.secret == SECRET


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"url": "ftp://crm.example.com/x"}, "$.url", "must be an http or https URL, got scheme 'ftp'"),
        ({"url": "crm.example.com/x"}, "$.url", "must be an http or https URL, got no scheme"),
        ({"url": "https://user:pw@crm.example.com/"}, "$.url", "the URL may not hold a user name or password"),
        ({"url": "https:///hooks"}, "$.url", "the URL names no host"),
        ({"name": "CRM offers"}, "$.name", "a name is 1 to 63 lower-case letters, digits, '-' and '_'"),
        ({"name": "crm.offers"}, "$.name", "a name is 1 to 63 lower-case letters"),
        ({"patterns": []}, "$.patterns", "List should have at least 1 item after validation"),
        ({"patterns": ["retail.#x"]}, "$.patterns[0]", "'retail.#x' is not a valid event-type pattern"),
        ({"filters": ["store_id=S-1"]}, "$.filters[0]", "'store_id=S-1' is not a payload condition: it must start"),
        ({"filters": ["payload.price[gte]=3"]}, "$.filters[0]", "unknown operator 'gte'"),
        ({"filters": ["payload.x[exists]=yes"]}, "$.filters[0]", "exists takes true or false"),
        ({"secret": "not-a-secret"}, "$.secret", "a Standard Webhooks secret starts with 'whsec_'"),
        ({"secret": "whsec_!!!"}, "$.secret", "after 'whsec_' a secret is padded base64"),
        ({"secret": "whsec_c2hvcnQ="}, "$.secret", "a secret is 24 to 64 bytes once decoded, got 5"),
        ({"retry_delays": [10, 0]}, "$.retry_delays[1]", "Input should be greater than or equal to 0.01"),
        ({"retry_delays": [1e9]}, "$.retry_delays[0]", "Input should be less than or equal to 604800"),
        ({"retry_delays": []}, "$.retry_delays", "List should have at least 1 item after validation, not 0"),
        ({"concurrency": 0}, "$.concurrency", "Input should be greater than or equal to 1"),
        ({"timeout": 301}, "$.timeout", "Input should be less than or equal to 300"),
        ({"target": "https://x.example/"}, "$.target", "Extra inputs are not permitted"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, fields: dict[str, Any], path: str, message: str
) -> None:
    """Each invalid field is refused with its JSON path and what is wrong; nothing is kept."""
    response = await client.post("/subscriptions", json={**BODY, **fields})
    assert response.status_code == 422
    [(where, said)] = errors_of(response)
    assert where == path
    assert said.startswith(message) or message in said, said
    assert (await client.get("/subscriptions")).json()["items"] == []


async def test_names_are_unique_and_unknown_names_are_404(client: httpx.AsyncClient) -> None:
    """A second POST of a name is a 409; reading, changing or deleting an unknown name is a 404."""
    await created(client)
    again = await client.post("/subscriptions", json=BODY)
    assert again.status_code == 409
    assert errors_of(again) == [
        ("$.name", "there is already a subscription 'crm-offers': choose another name, or change that one")
    ]
    for method, body in (
        ("GET", None),
        ("PUT", {"patterns": ["#"], "url": BODY["url"]}),
        ("PATCH", {}),
        ("DELETE", None),
    ):
        response = await client.request(method, "/subscriptions/nobody", json=body)
        assert response.status_code == 404, method
        assert errors_of(response) == [("path.name", "no subscription 'nobody'")]


async def test_put_replaces_the_settings_and_keeps_the_secret_unless_given(client: httpx.AsyncClient, store) -> None:
    """PUT sets every setting anew (left out: the defaults), the secret stays unless one is given."""
    first = await created(client, concurrency=3, filters=["payload.x=1"])
    replaced = await client.put("/subscriptions/crm-offers", json={"patterns": ["#"], "url": "http://10.0.0.7/in"})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert (body["patterns"], body["url"], body["filters"], body["concurrency"]) == (
        ["#"],
        "http://10.0.0.7/in",
        [],
        16,
    )
    assert (await store.subscription("crm-offers")).secret == first["secret"]
    await client.put("/subscriptions/crm-offers", json={"patterns": ["#"], "url": BODY["url"], "secret": SECRET})
    assert (await store.subscription("crm-offers")).secret == SECRET
    refused = await client.put(
        "/subscriptions/crm-offers", json={"name": "other", "patterns": ["#"], "url": BODY["url"]}
    )
    assert errors_of(refused) == [("$.name", "Extra inputs are not permitted")]


async def test_patch_changes_only_what_it_names(client: httpx.AsyncClient) -> None:
    """PATCH keeps the other settings; null resets an optional one and is refused for a required one."""
    await created(client, retry_delays=[5], concurrency=2)
    paused = await client.patch("/subscriptions/crm-offers", json={"enabled": False, "retry_delays": None})
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert (body["enabled"], body["retry_delays"], body["concurrency"], body["patterns"]) == (
        False,
        None,
        2,
        BODY["patterns"],
    )
    assert body["updated_at"] > body["created_at"]
    refused = await client.patch("/subscriptions/crm-offers", json={"patterns": None})
    assert refused.status_code == 422
    assert errors_of(refused) == [("$.patterns", "Input should be a valid list")]
    bad = await client.patch("/subscriptions/crm-offers", json={"url": "mailto:ops@example.com"})
    assert errors_of(bad)[0][0] == "$.url"


async def test_delete_removes_the_subscription_and_its_delivery_records(client: httpx.AsyncClient, store) -> None:
    """DELETE answers the subscription it deleted, which is gone with what it had delivered."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from candystore.store.subscriptions import DeliveryRecord  # noqa: PLC0415

    await created(client)
    event_id = uuid.uuid4()
    await store.record_deliveries([DeliveryRecord("crm-offers", event_id, 204, 1, datetime.now(UTC))])
    deleted = await client.delete("/subscriptions/crm-offers")
    assert deleted.status_code == 200
    assert deleted.json()["name"] == "crm-offers"
    assert "secret" not in deleted.json()
    assert (await client.get("/subscriptions")).json()["items"] == []
    assert await store.delivered("crm-offers", [event_id]) == set()


async def test_file_subscriptions_are_listed_and_refused_every_change(store, tmp_path: Path) -> None:
    """A subscription of DELIVERIES_FILE is listed first, as `file`; every change is a 409 saying where it is."""
    in_file = Subscription(
        name="warehouse",
        patterns=("retail.#",),
        url="https://wh.example.com/in",
        secret=SECRET,
        source=SubscriptionSource.FILE,
    )
    catalog = SubscriptionCatalog(store, [in_file])
    async with client_for(make_api(store, tmp_path, subscriptions=catalog)) as client:
        await created(client)
        listed = (await client.get("/subscriptions")).json()["items"]
        changes = [
            await client.patch("/subscriptions/warehouse", json={"enabled": False}),
            await client.put("/subscriptions/warehouse", json={"patterns": ["#"], "url": BODY["url"]}),
            await client.delete("/subscriptions/warehouse"),
        ]
        shadowing = await client.post("/subscriptions", json={**BODY, "name": "warehouse"})
    assert [(item["name"], item["source"]) for item in listed] == [("warehouse", "file"), ("crm-offers", "api")]
    assert listed[0]["created_at"] is None
    for change in changes:
        assert change.status_code == 409
        assert errors_of(change) == [
            (
                "path.name",
                "subscription 'warehouse' comes from DELIVERIES_FILE: change it there (read when Candystore starts)",
            )
        ]
    assert shadowing.status_code == 409


async def test_a_file_subscription_a_receiver_disabled_stays_disabled_until_the_next_start(store) -> None:
    """A 410 cannot change the file: the subscription is disabled in this process, with why."""
    in_file = Subscription(
        name="warehouse",
        patterns=("#",),
        url="https://wh.example.com/in",
        secret=SECRET,
        source=SubscriptionSource.FILE,
    )
    catalog = SubscriptionCatalog(store, [in_file])
    await catalog.disable("warehouse", "the receiver is gone: answered 410 Gone")
    shown = await catalog.get("warehouse")
    assert (shown.enabled, shown.disabled_reason) == (False, "the receiver is gone: answered 410 Gone")
    assert shown.wants("retail.offer.surfaced.v1", {})  # the same subscription otherwise
    assert await SubscriptionCatalog(store, [in_file]).get("warehouse") == in_file  # a new start: as the file says


def keyed_access() -> Access:
    ring = KeyRing.of(
        [
            (Client("reader", frozenset({Scope.READ})), [hash_key("reader-key-0123456789")]),
            (Client("ops", frozenset({Scope.OPERATE})), [hash_key("ops-key-0123456789")]),
        ]
    )
    return Access(ring, limiter=MemoryRateLimiter(), default_rate=Rate(1000, 1000), failure_rate=Rate(1, 1000))


async def test_with_keys_reading_needs_read_and_changing_needs_operate(store, tmp_path: Path) -> None:
    """Without a key 401; a reader lists but cannot create (403); an operator creates, recorded as the actor."""
    reader = {"Authorization": "Bearer reader-key-0123456789"}
    operator = {"X-API-Key": "ops-key-0123456789"}
    async with client_for(make_api(store, tmp_path, access=keyed_access())) as client:
        assert (await client.get("/subscriptions")).status_code == 401
        assert (await client.post("/subscriptions", json=BODY)).status_code == 401
        assert (await client.post("/subscriptions", json=BODY, headers=reader)).status_code == 403
        assert (await client.get("/subscriptions", headers=operator)).status_code == 403
        made = await client.post("/subscriptions", json=BODY, headers=operator)
        assert made.status_code == 201
        assert made.json()["created_by"] == "ops"
        shown = await client.get("/subscriptions/crm-offers", headers=reader)
        assert shown.status_code == 200
        assert (await client.patch("/subscriptions/crm-offers", json={}, headers=reader)).status_code == 403
        assert (await client.delete("/subscriptions/crm-offers", headers=reader)).status_code == 403
        assert (await client.delete("/subscriptions/crm-offers", headers=operator)).status_code == 200
