"""The webhook intake as a whole: an intake is off until its secret is set, failed signatures spend the address's
budget, a delivery id publishes once (a refused publish is published on redelivery; gateways sharing Redis share
the record), every outcome is counted, and no body with a valid signature is ever answered with a 5xx.

Each test runs a gateway on a broker file of its own with a queue bound to every event type (``started``), and
reads what was published back from that queue, through the app's event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from bloodbank import BloodbankSettings, ConsumerSpec
from bloodbank.gateway import create_gateway
from gumdrop.access_control import Access
from gumdrop.principals import KeyRing
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from holyfields.validation import decode_json
from tests.bloodbank.test_gateway import depth, started, state_of, take, transport_of
from tests.conftest import RedisNamespace

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
GITHUB_SECRET = "It's a Secret to Everybody"  # noqa: S105 - the example secret of GitHub's documentation
N8N_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the Standard Webhooks example secret
WRONG_SECRET = "not the hook's secret"  # noqa: S105 - a secret the gateway does not have
GENEROUS = Rate(1000, 1000)


def sample(name: str) -> bytes:
    """A delivery body of tests/fixtures/webhooks, byte for byte (``github/push.with-new-branch.json``)."""
    return (FIXTURES / name).read_bytes()


def github_headers(
    body: bytes, event: str, *, delivery: str | None = None, secret: str = GITHUB_SECRET
) -> dict[str, str]:
    """The headers GitHub sends with ``body``, signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def n8n_headers(
    body: bytes, *, webhook_id: str | None = None, secret: str = N8N_SECRET, at: float | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers an n8n workflow sends with ``body``, signed with ``secret``."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, moment, body),
    }


def access(failures: Rate = GENEROUS) -> Access:
    """No API keys (the webhook routes take none), and ``failures`` for the failed authentications of an address."""
    return Access(KeyRing(), limiter=MemoryRateLimiter(), default_rate=GENEROUS, failure_rate=failures)


def gateway(
    tmp_path: Path,
    *,
    github_secret: str | None = GITHUB_SECRET,
    n8n_secret: str | None = N8N_SECRET,
    failures: Rate = GENEROUS,
    **overrides: Any,
) -> TestClient:
    """A gateway on the test's broker file, with both intakes on unless told otherwise."""
    configured = BloodbankSettings(
        data_dir=tmp_path,
        publish_timeout=2.0,
        github_webhook_secret=github_secret,
        n8n_webhook_secret=n8n_secret,
        **overrides,
    )
    return TestClient(create_gateway(configured, access=access(failures)), base_url="http://localhost")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started gateway with both intakes on and a queue bound to every event type."""
    with started(gateway(tmp_path)) as started_gateway:
        yield started_gateway


def published(client: TestClient, count: int = 1) -> list[dict[str, Any]]:
    """The next ``count`` envelopes on the test's queue, decoded and validated as a consumer does."""
    validator = state_of(client).validator
    envelopes = [decode_json(body) for body in take(client, count)]
    for envelope in envelopes:
        assert validator.validate(envelope) == []
    return envelopes


def counted(client: TestClient, source: str, outcome: str) -> float:
    registry = state_of(client).metrics.registry
    return registry.get_sample_value("bloodbank_webhooks_total", {"source": source, "outcome": outcome}) or 0.0


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return [(error["path"], error["message"]) for error in body["errors"]]


# --- The intake switch --------------------------------------------------------------------------------------


def test_an_intake_without_its_secret_is_off_and_says_which_setting_turns_it_on(tmp_path: Path) -> None:
    """No secret: 404 naming the setting, whatever is sent, and nothing published; the other intake still works."""
    body = sample("github/issues.opened.json")
    with started(gateway(tmp_path, github_secret=None)) as client:
        off = client.post("/webhooks/github", content=body, headers=github_headers(body, "issues"))
        assert off.status_code == 404
        message = (
            "the GitHub webhook intake is off on this gateway: the operator turns it on by setting "
            "BLOODBANK_GITHUB_WEBHOOK_SECRET"
        )
        assert errors_of(off) == [(None, message)]
        notification = sample("n8n/workflow.started.json")
        on = client.post("/webhooks/n8n", content=notification, headers=n8n_headers(notification))
        assert on.status_code == 202
        assert depth(client) == 1
        assert counted(client, "github", "disabled") == 1
    with started(gateway(tmp_path / "n8n-off", n8n_secret=None)) as client:
        off = client.post("/webhooks/n8n", content=notification, headers=n8n_headers(notification))
        assert off.status_code == 404
        assert "BLOODBANK_N8N_WEBHOOK_SECRET" in errors_of(off)[0][1]
        assert depth(client) == 0


def test_a_secret_that_is_not_a_standard_webhooks_secret_is_refused_at_start() -> None:
    """The n8n secret must decode to 16 bytes or more, and the GitHub secret may not be empty: said at start."""
    with pytest.raises(ValueError, match="is not a Standard Webhooks secret: expected whsec_ followed by base64"):
        BloodbankSettings(n8n_webhook_secret="whsec_not base64!")  # noqa: S106 - refused
    with pytest.raises(ValueError, match="decodes to 3 bytes: a secret needs at least 16 random bytes"):
        BloodbankSettings(n8n_webhook_secret="whsec_c2Vj")  # noqa: S106 - refused
    with pytest.raises(ValueError, match="is empty: set the secret of the GitHub webhook"):
        BloodbankSettings(github_webhook_secret="")


# --- Failed signatures and the address's budget ------------------------------------------------------------


def test_an_address_that_fails_too_often_is_refused_even_when_signed_well(tmp_path: Path) -> None:
    """Bad signatures spend the address's budget of failed authentications: then 429 with Retry-After, signed or not."""
    body = sample("github/issues.opened.json")
    with started(gateway(tmp_path, failures=Rate(0.001, 2))) as client:
        forged = github_headers(body, "issues", secret=WRONG_SECRET)
        assert [client.post("/webhooks/github", content=body, headers=forged).status_code for _ in range(2)] == [
            401,
            401,
        ]
        notification = sample("n8n/workflow.started.json")
        for refused in (
            client.post("/webhooks/github", content=body, headers=github_headers(body, "issues")),
            client.post("/webhooks/n8n", content=notification, headers=n8n_headers(notification)),
        ):
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) > 0
            [(path, message)] = errors_of(refused)
            assert (path, message.split(";")[0]) == (None, "too many failed authentications from testclient")
        assert depth(client) == 0
        assert (counted(client, "github", "unauthorized"), counted(client, "github", "limited")) == (2, 1)
        assert counted(client, "n8n", "limited") == 1


def test_a_request_without_a_signature_is_told_so_and_spends_nothing(tmp_path: Path) -> None:
    """No signature header is a 401 saying so, as no API key is: not a failed attempt, so the budget stays whole."""
    body = sample("github/issues.opened.json")
    unsigned = {key: value for key, value in github_headers(body, "issues").items() if key != "X-Hub-Signature-256"}
    with started(gateway(tmp_path, failures=Rate(0.001, 2))) as client:
        for _ in range(3):
            refused = client.post("/webhooks/github", content=body, headers=unsigned)
            assert refused.status_code == 401
            assert errors_of(refused)[0][0] == "header.X-Hub-Signature-256"
        signed = client.post("/webhooks/github", content=body, headers=github_headers(body, "issues"))
        assert signed.status_code == 202


# --- Once per delivery id -----------------------------------------------------------------------------------


def test_a_delivery_the_broker_refused_is_published_when_it_comes_again(tmp_path: Path) -> None:
    """The id is recorded only once the broker confirmed: a 503 is retried by the sender and then published."""
    first, second = sample("github/issues.opened.json"), sample("github/pull_request.opened.json")
    with started(gateway(tmp_path)) as client:
        capped = ConsumerSpec("webhooks.capped", ("github.#",), max_length=1)
        client.portal.call(transport_of(client).declare_consumer, capped)  # type: ignore[union-attr]
        assert (
            client.post("/webhooks/github", content=first, headers=github_headers(first, "issues")).status_code == 202
        )
        headers = github_headers(second, "pull_request")
        refused = client.post("/webhooks/github", content=second, headers=headers)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        take(client, 1, queue="webhooks.capped")  # room again
        accepted = client.post("/webhooks/github", content=second, headers=headers)
        assert accepted.status_code == 202
        events = published(client, 2)
        assert [event["event_type"] for event in events] == ["github.issue.created.v1", "github.pr.opened.v1"]
        assert events[1]["event_id"] == accepted.json()["event_id"]
        assert counted(client, "github", "unavailable") == 1


@pytest.mark.redis
def test_gateways_sharing_redis_publish_a_delivery_once(tmp_path: Path, redis_namespace: RedisNamespace) -> None:
    """A redelivery that reaches another gateway sharing Redis is answered as the first was, and not published."""
    body = sample("n8n/workflow.completed.success.json")
    headers = n8n_headers(body)
    shared: dict[str, Any] = {"redis_url": redis_namespace.url, "redis_prefix": redis_namespace.prefix}
    with started(gateway(tmp_path / "first", **shared)) as client:
        first = client.post("/webhooks/n8n", content=body, headers=headers)
        assert first.status_code == 202
        assert depth(client) == 1
    with started(gateway(tmp_path / "second", **shared)) as client:
        again = client.post("/webhooks/n8n", content=body, headers=headers)
        assert (again.status_code, again.json()) == (202, first.json())
        assert depth(client) == 0
        assert counted(client, "n8n", "duplicate") == 1


# --- Any body -----------------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
"""Any JSON value."""

Path_ = tuple[str | int, ...]


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every place in a decoded document, the document itself first."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replaced(document: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(document, dict):
        return {**document, head: _replaced(document[head], tuple(rest), value)}
    copy = list(document)
    copy[int(head)] = _replaced(document[int(head)], tuple(rest), value)
    return copy


def _mutations(folder: str) -> st.SearchStrategy[tuple[str, Any]]:
    """A delivery of tests/fixtures/webhooks/``folder`` (its file's first name, its body) with one place, at any
    depth a mapping reads, replaced by any JSON value."""
    deliveries = [
        (file.name.split(".", maxsplit=1)[0], json.loads(file.read_bytes()))
        for file in sorted((FIXTURES / folder).glob("*.json"))
    ]

    def mutate(delivery: tuple[str, Any]) -> st.SearchStrategy[tuple[str, Any]]:
        name, document = delivery
        places = [path for path in _paths(document) if len(path) <= 4]
        return st.builds(lambda path, value: (name, _replaced(document, path, value)), st.sampled_from(places), _JSON)

    return st.sampled_from(deliveries).flatmap(mutate)


def _shaped(keys: list[str]) -> st.SearchStrategy[Any]:
    """Objects with some of the keys a mapping reads, holding any JSON (and occasionally any JSON at all)."""
    return st.dictionaries(st.sampled_from(keys), _JSON | st.dictionaries(st.sampled_from(keys), _JSON)) | _JSON


_GITHUB_EVENTS = st.sampled_from(["pull_request", "push", "workflow_run", "check_suite", "issues", "ping", "star"])
_GITHUB_KEYS = ["action", "pull_request", "repository", "sender", "issue", "workflow_run", "workflow", "check_suite"]
_N8N_KEYS = ["event", "workflow", "execution", "data", "correlation_ids", "id", "name", "status", "startedAt"]
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(delivery=_mutations("github") | st.tuples(_GITHUB_EVENTS, _shaped(_GITHUB_KEYS)))
def test_no_github_delivery_with_a_valid_signature_is_answered_with_a_server_error(
    client: TestClient, delivery: tuple[str, Any]
) -> None:
    """A real delivery with any one part replaced by any JSON, or any JSON at all: a 2xx or a 4xx, never a 5xx."""
    event, document = delivery
    body = json.dumps(document).encode()
    assert_no_server_error(client.post("/webhooks/github", content=body, headers=github_headers(body, event)))


@_SETTINGS
@given(delivery=_mutations("n8n") | st.tuples(st.just("n8n"), _shaped(_N8N_KEYS)))
def test_no_n8n_notification_with_a_valid_signature_is_answered_with_a_server_error(
    client: TestClient, delivery: tuple[str, Any]
) -> None:
    """A real notification with any one part replaced by any JSON, or any JSON at all: a 2xx or a 4xx, never a 5xx."""
    body = json.dumps(delivery[1]).encode()
    assert_no_server_error(client.post("/webhooks/n8n", content=body, headers=n8n_headers(body)))


def assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert errors_of(response)
