"""Signed bus messages: the signer on its own, then publishers and consumers on both transports through `Bus`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bloodbank import BloodbankSettings, Bus, ConsumerSpec, Event, subscribe, uuid7
from bloodbank.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    MalformedSigningKeys,
    MessageSignatures,
    parse_signing_keys,
)
from bloodbank.topology import DEAD_LETTER_QUEUE, Headers
from bloodbank.transport import Delivery, OutgoingMessage
from holyfields import default_catalog
from tests.bloodbank.conftest import TransportFactory
from tests.bloodbank.test_conformance import FAST_RETRIES, drain
from tests.bloodbank.waiting import eventually

OFFER_TYPE = "retail.offer.surfaced.v1"
SNAPSHOT_TYPE = "retail.inventory.snapshot.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SNAPSHOT = default_catalog().get(SNAPSHOT_TYPE).examples[0]  # type: ignore[union-attr]

K1 = "k1:first-secret-0123456789"
K2 = "k2:second-secret-9876543210"
BODY = b'{"event_id":"0190c0de-0000-7000-8000-000000000001","payload":{"price":9.99}}'

MISMATCH = "the signature does not match the body (tampered, or signed with another secret)"
UNSIGNED = "no signature: the message carries no x-bloodbank-signature header"


def signatures(keys: str, *, accept_unsigned: bool = False) -> MessageSignatures:
    made = MessageSignatures.from_settings(keys.split(","), accept_unsigned=accept_unsigned)
    assert made is not None
    return made


# --- The signer -------------------------------------------------------------------------


def test_a_signed_body_verifies_and_carries_the_hmac_of_design_md() -> None:
    """Signing adds the key id and the base64 HMAC-SHA256 of the exact body, which verifies."""
    signer = signatures(K1)
    headers = signer.sign(BODY)
    expected = base64.b64encode(hmac.new(b"first-secret-0123456789", BODY, hashlib.sha256).digest()).decode()
    assert headers == {KEY_ID_HEADER: "k1", SIGNATURE_HEADER: expected}
    assert signer.verify(BODY, headers) is None


def test_a_tampered_body_fails() -> None:
    """One changed character of the body makes the signature not match."""
    signer = signatures(K1)
    headers = signer.sign(BODY)
    assert signer.verify(BODY.replace(b"9.99", b"0.99"), headers) == MISMATCH


def test_the_same_key_id_with_another_secret_fails() -> None:
    """A message signed under key id k1 with a different secret does not verify."""
    forged = signatures("k1:not-the-real-secret").sign(BODY)
    assert signatures(K1).verify(BODY, forged) == MISMATCH


def test_an_unknown_key_id_fails_naming_it() -> None:
    """A signature under a key id this process does not list is refused with that id."""
    old = signatures("k0:retired-secret").sign(BODY)
    assert signatures(f"{K2},{K1}").verify(BODY, old) == "signed with unknown key id 'k0'"


def test_rotation_old_key_verifies_while_listed_second_and_fails_once_removed() -> None:
    """Signed by k1; with k2,k1 it verifies and new messages are signed by k2; with k2 alone it is refused."""
    signed_by_k1 = signatures(K1).sign(BODY)
    rotating = signatures(f"{K2},{K1}")
    assert rotating.verify(BODY, signed_by_k1) is None
    assert rotating.signing_key_id == "k2"
    signed_by_k2 = rotating.sign(BODY)
    assert signed_by_k2[KEY_ID_HEADER] == "k2"
    rotated = signatures(K2)
    assert rotated.verify(BODY, signed_by_k2) is None
    assert rotated.verify(BODY, signed_by_k1) == "signed with unknown key id 'k1'"


def test_an_unsigned_message_fails_unless_unsigned_ones_are_accepted() -> None:
    """No headers: refused by default, handled with accept_unsigned."""
    assert signatures(K1).verify(BODY, {}) == UNSIGNED
    assert signatures(K1, accept_unsigned=True).verify(BODY, {"traceparent": "00-…"}) is None


def test_accepting_unsigned_messages_still_refuses_bad_signatures() -> None:
    """accept_unsigned lets the unsigned through, never a tampered body or an unknown key."""
    lenient = signatures(K1, accept_unsigned=True)
    headers = lenient.sign(BODY)
    assert lenient.verify(BODY + b" ", headers) == MISMATCH
    assert lenient.verify(BODY, {**headers, KEY_ID_HEADER: "k9"}) == "signed with unknown key id 'k9'"


def test_a_signature_without_key_id_or_not_text_fails() -> None:
    """A signature header alone, or one that is not text, is refused with what is wrong."""
    signer = signatures(K1, accept_unsigned=True)
    signature = signer.sign(BODY)[SIGNATURE_HEADER]
    assert signer.verify(BODY, {SIGNATURE_HEADER: signature}) == (
        "no key id: the message carries an x-bloodbank-signature header but no x-bloodbank-key-id header"
    )
    assert signer.verify(BODY, {SIGNATURE_HEADER: 42, KEY_ID_HEADER: "k1"}) == (
        "the x-bloodbank-signature header is not text"
    )
    assert signer.verify(BODY, {SIGNATURE_HEADER: "not base64 at all é", KEY_ID_HEADER: "k1"}) == MISMATCH


def test_headers_arriving_as_bytes_verify() -> None:
    """AMQP byte-array headers carry the same text: they verify as strings do."""
    signer = signatures(K1)
    headers = {name: value.encode() for name, value in signer.sign(BODY).items()}
    assert signer.verify(BODY, headers) is None


def test_secrets_are_never_shown() -> None:
    """Neither the signer's repr nor a key's shows a secret."""
    signer = signatures(f"{K2},{K1}", accept_unsigned=True)
    shown = repr(signer) + repr(parse_signing_keys([K1]))
    assert "first-secret" not in shown
    assert "second-secret" not in shown
    assert repr(signer) == "MessageSignatures(signing 'k2', verifying ['k2', 'k1'], accept_unsigned)"


def test_no_keys_means_no_signatures() -> None:
    """An empty BLOODBANK_SIGNING_KEYS makes nothing to sign or verify with."""
    assert MessageSignatures.from_settings([]) is None
    assert BloodbankSettings(signing_keys="").signing_keys == []


@given(body=st.binary(min_size=1, max_size=2048), data=st.data())
def test_any_body_verifies_and_any_single_byte_change_fails(body: bytes, data: st.DataObject) -> None:
    """Whatever the body, it verifies once signed; changing any one byte of it makes it fail."""
    signer = signatures(f"{K2},{K1}")
    headers = signer.sign(body)
    assert signer.verify(body, headers) is None
    at = data.draw(st.integers(0, len(body) - 1), label="at")
    replacement = data.draw(st.integers(0, 255).filter(lambda byte: byte != body[at]), label="byte")
    changed = body[:at] + bytes([replacement]) + body[at + 1 :]
    assert signer.verify(changed, headers) == MISMATCH


# --- BLOODBANK_SIGNING_KEYS ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "k1:Hunter2-a,Hunter2-bare",
            "BLOODBANK_SIGNING_KEYS entry 2 of 2 has no ':'; write comma-separated id:secret pairs",
        ),
        (":Hunter2-orphan", "BLOODBANK_SIGNING_KEYS entry 1 of 1 has an empty key id before its ':'; write id:secret"),
        ("k1:", "BLOODBANK_SIGNING_KEYS entry 1 of 1 (key id 'k1') has an empty secret after its ':'"),
        (
            "k1:Hunter2-a,k2:Hunter2-b,k1:Hunter2-c",
            "BLOODBANK_SIGNING_KEYS entry 3 of 3 repeats key id 'k1' (entry 1); give every secret its own id",
        ),
    ],
)
def test_malformed_signing_keys_fail_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    """A malformed entry makes the settings fail with one message naming the setting, never quoting a secret."""
    monkeypatch.setenv("BLOODBANK_SIGNING_KEYS", value)
    with pytest.raises(pydantic.ValidationError) as caught:
        BloodbankSettings()
    (error,) = caught.value.errors()
    assert error["loc"] == ("signing_keys",)
    assert error["msg"] == f"Value error, {message}"
    assert "Hunter2" not in error["msg"]  # an entry without ':' may be a bare secret: never quoted
    with pytest.raises(MalformedSigningKeys, match=r"^BLOODBANK_SIGNING_KEYS entry"):
        parse_signing_keys(value.split(","))


def test_a_secret_may_hold_colons_and_entries_are_trimmed() -> None:
    """Only the first colon separates the id; spaces around an entry and its parts are dropped."""
    settings = BloodbankSettings(signing_keys=" k2 : a:b:c , k1:x ")
    keys = parse_signing_keys(settings.signing_keys)
    assert [(key.key_id, key.secret) for key in keys] == [("k2", b"a:b:c"), ("k1", b"x")]


# --- Through the bus, on every transport ----------------------------------------------------


async def start_bus(transport_factory: TransportFactory, data_dir: Path, keys: str, **settings: Any) -> Bus:
    config = BloodbankSettings(data_dir=data_dir, publish_timeout=5.0, signing_keys=keys, **settings)
    return await Bus.start(config, transport=transport_factory())


async def watched(bus: Bus, name: str, *bindings: str) -> ConsumerSpec:
    """A queue that keeps copies of what is published, to read the messages as they travel."""
    spec = ConsumerSpec(name, bindings)
    await bus.transport.declare_consumer(spec)
    return spec


def tampered(delivery: Delivery) -> OutgoingMessage:
    """The delivered message with another valid event in its body (new id, lower price) and its original headers."""
    document = msgspec.json.decode(delivery.body)
    document["event_id"] = uuid7()  # not a redelivery the idempotency store would absorb: only the signature refuses
    document["payload"] = {**document["payload"], "price": 0.01}
    return OutgoingMessage(
        msgspec.json.encode(document), delivery.routing_key, document["event_id"], dict(delivery.headers)
    )


def counted(bus: Bus, name: str, labels: dict[str, str]) -> float:
    return bus.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_tampered_or_unsigned_message_is_dead_lettered_and_never_handled(
    transport_factory: TransportFactory, tmp_path: Path
) -> None:
    """A signed event is handled; its body changed under the old headers, or sent unsigned, goes to dlq.all."""
    bus = await start_bus(transport_factory, tmp_path, K1)
    try:
        watch = await watched(bus, "signing.watch", OFFER_TYPE)
        handled: list[str] = []

        async def handle(event: Event) -> None:
            handled.append(event.event_id)

        await bus.subscribe("signing.consumer", [OFFER_TYPE], handle)
        event_id = await bus.publish(OFFER_TYPE, OFFER)
        await eventually(lambda: handled == [event_id])
        (original,) = await drain(bus, watch.name, expect=1)
        assert original.headers[KEY_ID_HEADER] == "k1"
        assert bus.signatures is not None
        assert bus.signatures.verify(original.body, original.headers) is None

        forged = tampered(original)
        assert bus.validator.parse(forged.body)["event_id"] == forged.message_id  # valid: only the signature refuses
        unsigned = OutgoingMessage(forged.body, OFFER_TYPE, forged.message_id)
        await bus.transport.publish_batch([forged], timeout=5)
        dead = await drain(bus, DEAD_LETTER_QUEUE, expect=1)
        await bus.transport.publish_batch([unsigned], timeout=5)
        dead += await drain(bus, DEAD_LETTER_QUEUE, expect=1)

        assert [d.headers[Headers.ERROR] for d in dead] == [f"BadSignature: {MISMATCH}", f"BadSignature: {UNSIGNED}"]
        assert {d.headers[Headers.CONSUMER] for d in dead} == {"signing.consumer"}
        assert [d.body for d in dead] == [forged.body, forged.body]
        await asyncio.sleep(0.2)
        assert handled == [event_id]
        assert counted(bus, "bloodbank_consume_total", {"consumer": "signing.consumer", "outcome": "dlq"}) == 2
        assert counted(bus, "bloodbank_validation_total", {"stage": "consume", "result": "invalid"}) == 2
        assert counted(bus, "bloodbank_signatures_refused_total", {"stage": "consume"}) == 2
    finally:
        await bus.close(timeout=5)


async def test_a_retried_message_keeps_its_signature(transport_factory: TransportFactory, tmp_path: Path) -> None:
    """A handler failing once: the retry copy still verifies, and the second attempt handles it."""
    bus = await start_bus(transport_factory, tmp_path, K1)
    attempts: list[int] = []

    async def fail_once(event: Event) -> None:
        attempts.append(event.attempt)
        if event.attempt == 1:
            raise RuntimeError("first attempt fails")

    spec = ConsumerSpec("signing.retried", (OFFER_TYPE,), retry_delays=FAST_RETRIES)
    try:
        await subscribe(
            bus.transport,
            spec.name,
            spec.bindings,
            fail_once,
            validator=bus.validator,
            idempotency=bus.idempotency,
            metrics=bus.metrics,
            spec=spec,
            signatures=bus.signatures,
        )
        await bus.publish(OFFER_TYPE, OFFER)
        await eventually(lambda: attempts == [1, 2])
        assert await bus.transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    finally:
        await bus.close(timeout=5)


async def test_without_keys_nothing_is_signed_and_unsigned_messages_are_handled(
    transport_factory: TransportFactory, tmp_path: Path
) -> None:
    """No BLOODBANK_SIGNING_KEYS: messages travel without signature headers and are handled as before."""
    bus = await start_bus(transport_factory, tmp_path, "")
    try:
        assert bus.signatures is None
        watch = await watched(bus, "signing.plain.watch", OFFER_TYPE)
        handled: list[str] = []

        async def handle(event: Event) -> None:
            handled.append(event.event_id)

        await bus.subscribe("signing.plain", [OFFER_TYPE], handle)
        event_id = await bus.publish(OFFER_TYPE, OFFER)
        await eventually(lambda: handled == [event_id])
        (plain,) = await drain(bus, watch.name, expect=1)
        assert KEY_ID_HEADER not in plain.headers
        assert SIGNATURE_HEADER not in plain.headers
    finally:
        await bus.close(timeout=5)


async def test_rotating_keys_across_restarts(transport_factory: TransportFactory, tmp_path: Path) -> None:
    """k1 signs; with k2,k1 k1's in-flight messages are handled and k2 signs; with k2 alone k1's are refused."""
    early, late = ConsumerSpec("rotation.early", (OFFER_TYPE,)), ConsumerSpec("rotation.late", (SNAPSHOT_TYPE,))

    first = await start_bus(transport_factory, tmp_path, K1)
    try:
        for spec in (early, late):
            await first.transport.declare_consumer(spec)
        in_flight = await first.publish(OFFER_TYPE, OFFER)  # waits in rotation.early
        stale = await first.publish(SNAPSHOT_TYPE, SNAPSHOT)  # waits in rotation.late, until k1 is gone
    finally:
        await first.close(timeout=5)

    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    second = await start_bus(transport_factory, tmp_path, f"{K2},{K1}")
    try:
        watch = await watched(second, "rotation.watch", OFFER_TYPE)
        await second.subscribe(early.name, early.bindings, handle)
        await eventually(lambda: handled == [in_flight])
        fresh = await second.publish(OFFER_TYPE, OFFER)
        await eventually(lambda: handled == [in_flight, fresh])
        (signed,) = await drain(second, watch.name, expect=1)
        assert signed.headers[KEY_ID_HEADER] == "k2"
    finally:
        await second.close(timeout=5)

    third = await start_bus(transport_factory, tmp_path, K2)
    try:
        await third.subscribe(late.name, late.bindings, handle)
        (dead,) = await drain(third, DEAD_LETTER_QUEUE, expect=1)
        assert dead.message_id == stale
        assert dead.headers[Headers.ERROR] == "BadSignature: signed with unknown key id 'k1'"
        assert dead.headers[Headers.CONSUMER] == late.name
        await asyncio.sleep(0.2)
        assert stale not in handled
    finally:
        await third.close(timeout=5)


@pytest.mark.usefixtures("recorded_spans")
async def test_with_tracing_the_signature_covers_the_stamped_body(tmp_path: Path) -> None:
    """Tracing stamps trace_context into the body after validation; the signature is over that final body."""
    from bloodbank.transport.embedded import EmbeddedTransport  # noqa: PLC0415 - transport-independent: one suffices

    bus = await start_bus(lambda: EmbeddedTransport(tmp_path / "bus.sqlite3"), tmp_path, K1)
    try:
        watch = await watched(bus, "signing.traced.watch", OFFER_TYPE)
        handled: list[Event] = []

        async def handle(event: Event) -> None:
            handled.append(event)

        await bus.subscribe("signing.traced", [OFFER_TYPE], handle)
        await bus.publish(OFFER_TYPE, OFFER)
        await eventually(lambda: len(handled) == 1)
        assert "trace_context" in handled[0].document
        (traced,) = await drain(bus, watch.name, expect=1)
        assert bus.signatures is not None
        assert bus.signatures.verify(traced.body, traced.headers) is None
        assert await bus.transport.queue_depth(DEAD_LETTER_QUEUE) == 0
    finally:
        await bus.close(timeout=5)
