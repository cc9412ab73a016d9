"""Signed publish requests, the Standard Webhooks way: the scheme's vector, forged, stale and replayed signatures,
clients that must sign, and rotation of a client's secrets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from bloodbank import BloodbankSettings
from bloodbank.gateway import create_gateway
from gumdrop.access_control import Access
from gumdrop.principals import Client, KeyRing, Scope, hash_key
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from holyfields import default_catalog

OFFER_TYPE = "retail.offer.surfaced.v1"
OLD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the scheme's published example secret
NEW_SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLXNlY29uZC1jbGllbnQ="
KEY = f"signer-{uuid.uuid4().hex}"
LAX_KEY = f"lax-{uuid.uuid4().hex}"


def test_the_scheme_signs_as_its_specification_says() -> None:
    """The library gives the Standard Webhooks specification's example signature for its example message."""
    body = b'{"test": 2432232314}'
    moment = datetime.fromtimestamp(1614265330, UTC)
    signed = Webhook(OLD_SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", moment, body)
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def access(*, secrets: tuple[str, ...]) -> Access:
    signer = Client("signer", frozenset({Scope.PUBLISH}), webhook_secrets=secrets, require_signature=True)
    lax = Client("lax", frozenset({Scope.PUBLISH}), webhook_secrets=secrets)
    ring = KeyRing.of([(signer, [hash_key(KEY)]), (lax, [hash_key(LAX_KEY)])])
    return Access(ring, limiter=MemoryRateLimiter(), default_rate=Rate(1000, 1000), failure_rate=Rate(1000, 1000))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    app = create_gateway(BloodbankSettings(data_dir=tmp_path), access=access(secrets=(OLD_SECRET, NEW_SECRET)))
    with TestClient(app, base_url="http://localhost") as client:
        yield client


def event() -> bytes:
    payload = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
    return msgspec.json.encode({"event_type": OFFER_TYPE, "payload": payload})


def signed(body: bytes, secret: str, *, at: float | None = None, message_id: str | None = None) -> dict[str, str]:
    moment = datetime.fromtimestamp(at if at is not None else time.time(), UTC)
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
        "Authorization": f"Bearer {KEY}",
        "Content-Type": "application/json",
    }


def refusal(answer: object) -> tuple[int, str, str]:
    status = answer.status_code  # type: ignore[attr-defined]
    [error] = answer.json()["errors"]  # type: ignore[attr-defined]
    return status, error["path"], error["message"]


def test_a_request_signed_with_any_current_secret_is_accepted(gateway: TestClient) -> None:
    """Old and new secrets verify alike while both are configured (rotation)."""
    for secret in (OLD_SECRET, NEW_SECRET):
        body = event()
        assert gateway.post("/events", content=body, headers=signed(body, secret)).status_code == 202


def test_a_forged_signature_is_refused(gateway: TestClient) -> None:
    """A body changed after signing, or signed with another secret, is a 401 naming the signature header."""
    body = event()
    headers = signed(body, OLD_SECRET)
    tampered = body[:-1] + b" }"  # the same JSON, other bytes
    status, path, message = refusal(gateway.post("/events", content=tampered, headers=headers))
    assert (status, path) == (401, "header.webhook-signature")
    assert "does not match the body" in message
    other = signed(body, "whsec_" + "b3RoZXItc2VjcmV0LW5vYm9keS1rbm93cw==")
    assert refusal(gateway.post("/events", content=body, headers=other))[:2] == (401, "header.webhook-signature")
    registry = gateway.app.state.gateway.metrics.registry  # type: ignore[attr-defined]
    assert registry.get_sample_value("bloodbank_signatures_refused_total", {"stage": "request"}) == 2


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_stale_or_future_timestamp_is_refused(gateway: TestClient, offset: int) -> None:
    """A timestamp more than 5 minutes from the gateway's clock is a 401 saying by how much."""
    body = event()
    status, path, message = refusal(
        gateway.post("/events", content=body, headers=signed(body, OLD_SECRET, at=time.time() + offset))
    )
    assert (status, path) == (401, "header.webhook-timestamp")
    assert "at most 300 s" in message


def test_a_replayed_request_is_refused(gateway: TestClient) -> None:
    """The same webhook-id twice: the second is a 401, even with a fresh signature over the same id."""
    body = event()
    headers = signed(body, OLD_SECRET)
    assert gateway.post("/events", content=body, headers=headers).status_code == 202
    status, path, _ = refusal(gateway.post("/events", content=body, headers=headers))
    assert (status, path) == (401, "header.webhook-id")


def test_a_client_that_must_sign_is_refused_unsigned_and_others_are_not(gateway: TestClient) -> None:
    """require_signature makes an unsigned request a 401; a client without it may publish unsigned, or signed."""
    body = event()
    plain = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, path, message = refusal(gateway.post("/events", content=body, headers=plain))
    assert (status, path) == (401, "header.webhook-signature")
    assert "must sign" in message
    lax = {"Authorization": f"Bearer {LAX_KEY}", "Content-Type": "application/json"}
    assert gateway.post("/events", content=body, headers=lax).status_code == 202
    assert gateway.post("/events/batch", content=b"[" + body + b"]", headers=lax).status_code == 200
    half = {**lax, "webhook-id": "msg_1"}
    assert refusal(gateway.post("/events", content=body, headers=half))[:2] == (401, "header.webhook-timestamp")


def test_a_removed_secret_no_longer_verifies(tmp_path: Path) -> None:
    """After rotation (the old secret removed, the gateway restarted), a request signed with it is refused."""
    app = create_gateway(BloodbankSettings(data_dir=tmp_path), access=access(secrets=(NEW_SECRET,)))
    with TestClient(app, base_url="http://localhost") as client:
        body = event()
        assert refusal(client.post("/events", content=body, headers=signed(body, OLD_SECRET)))[0] == 401
        assert client.post("/events", content=body, headers=signed(body, NEW_SECRET)).status_code == 202
