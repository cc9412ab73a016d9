"""One signed request to a real receiver on 127.0.0.1, and what its answer (or its silence) means."""

from __future__ import annotations

import socket

import msgspec
import pytest

from bloodbank import build_envelope
from candystore.deliveries import Answer, Verdict, WebhookSender, new_secret
from candystore.deliveries.sender import MAX_ANSWER_BYTES
from tests.candystore.test_deliveries import OFFER, OFFER_TYPE, SOURCE, Receiver, Reply, always, receiving

ENVELOPE = build_envelope(OFFER_TYPE, OFFER, source=SOURCE)
BODY = msgspec.json.encode(ENVELOPE)


async def sent(reply: Reply, *, timeout: float = 2.0) -> tuple[Answer, Receiver]:
    secret = new_secret()
    async with receiving(Receiver(secret=secret, script=lambda _id, _n: reply)) as receiver:
        sender = WebhookSender(receiver.url, secret, timeout=timeout, connections=2)
        try:
            answer = await sender.send(ENVELOPE["event_id"], BODY)
        finally:
            await sender.close()
    return answer, receiver


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (410, Verdict.GONE),
        (301, Verdict.FAILED),
        (400, Verdict.FAILED),
        (401, Verdict.FAILED),
        (404, Verdict.FAILED),
        (413, Verdict.FAILED),
        (422, Verdict.FAILED),
    ],
)
async def test_each_status_has_its_verdict(status: int, verdict: Verdict) -> None:
    """2xx delivered; 408, 429, 5xx retried; 410 gone; any other status failed for good."""
    answer, receiver = await sent(Reply(status))
    assert (answer.verdict, answer.status) == (verdict, status)
    [request] = receiver.received
    assert request.verified


async def test_the_request_is_the_envelope_signed_as_standard_webhooks_says() -> None:
    """POST, the envelope JSON as body, its id as webhook-id, a verified v1 signature, a JSON content type."""
    answer, receiver = await sent(Reply(204))
    assert answer.reason == "answered 204"
    [request] = receiver.received
    assert request.body == BODY
    assert request.webhook_id == ENVELOPE["event_id"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("33GOD-Candystore-Deliveries/")
    assert request.verified


async def test_a_failure_quotes_the_status_the_answer_and_its_retry_after_or_location() -> None:
    """The reason (kept in the dead letter) has the status, Retry-After or Location, and the body cut short."""
    limited, _ = await sent(Reply(429, headers=(("retry-after", "30"),), body=b"slow down"))
    assert limited.reason == "answered 429 Too Many Requests (Retry-After: 30): slow down"
    moved, _ = await sent(Reply(308, headers=(("location", "https://new.example.com/in"),)))
    assert moved.reason == "answered 308 Permanent Redirect (Location: https://new.example.com/in)"
    long, _ = await sent(Reply(400, body=b"x" * 1000))
    assert long.reason == "answered 400 Bad Request: " + "x" * 299 + "…"


async def test_no_answer_in_time_is_retried_whether_the_headers_or_the_body_are_slow() -> None:
    """The timeout covers the whole exchange: late headers and a body trickling in past it are both retried."""
    late, receiver = await sent(Reply(200, delay=1.0), timeout=0.2)
    assert (late.verdict, late.status, late.reason) == (Verdict.RETRY, None, "no answer within 0.2 s")
    assert len(receiver.received) == 1
    trickled, _ = await sent(Reply(200, body=b"ok" * 10, trickle=0.05), timeout=0.3)
    assert (trickled.verdict, trickled.reason) == (Verdict.RETRY, "no answer within 0.3 s")


async def test_a_large_answer_is_not_read_to_its_end() -> None:
    """A 2xx with a huge body is delivered all the same; only MAX_ANSWER_BYTES of it are read."""
    answer, _ = await sent(Reply(200, body=b"y" * (MAX_ANSWER_BYTES * 4)))
    assert answer.verdict is Verdict.DELIVERED


async def test_a_receiver_not_listening_is_retried() -> None:
    """Connection refused: retried, saying so."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = WebhookSender(f"http://127.0.0.1:{port}/in", new_secret(), timeout=2, connections=1)
    try:
        answer = await sender.send(ENVELOPE["event_id"], BODY)
    finally:
        await sender.close()
    assert (answer.verdict, answer.status) == (Verdict.RETRY, None)
    assert answer.reason.startswith("ConnectError: ")


async def test_one_sender_reuses_its_connections() -> None:
    """Many requests through one sender keep to its pool (the receiver sees them all, signed)."""
    secret = new_secret()
    async with receiving(Receiver(secret=secret, script=always(204))) as receiver:
        sender = WebhookSender(receiver.url, secret, timeout=2, connections=2)
        try:
            answers = [await sender.send(ENVELOPE["event_id"], BODY) for _ in range(5)]
        finally:
            await sender.close()
    assert {answer.verdict for answer in answers} == {Verdict.DELIVERED}
    assert len(receiver.received) == 5
    assert all(request.verified for request in receiver.received)
    assert len({request.peer for request in receiver.received}) == 1  # one after the other: one connection
