"""Candystore on a bus with signing keys: only messages whose signature verifies become events.

The service runs as ``candystore serve`` runs it (its ingestor takes the bus's signatures),
on the embedded broker and on RabbitMQ, over SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from bloodbank import BloodbankSettings, Bus, build_envelope
from bloodbank.topology import STORE_QUEUE
from bloodbank.transport import OutgoingMessage
from candystore.replay import ReplayOutcome, replay_dead_letters
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from candystore.store.dead_letters import DeadLetterFilter
from holyfields import default_catalog
from tests.bloodbank.waiting import eventually

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "signing-tests"}
KEYS = "k2:second-secret-9876543210,k1:first-secret-0123456789"
MISMATCH = "BadSignature: the signature does not match the body (tampered, or signed with another secret)"


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker_url(request: pytest.FixtureRequest) -> str | None:
    """None for the embedded broker, else the test's own RabbitMQ virtual host."""
    return request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" else None


@pytest.fixture
async def service(broker_url: str | None, tmp_path: Path) -> AsyncIterator[CandystoreService]:
    bus = await Bus.start(
        BloodbankSettings(broker_url=broker_url, data_dir=tmp_path / "bus", signing_keys=KEYS, publish_timeout=5.0)
    )
    running = CandystoreService(CandystoreSettings(data_dir=tmp_path, batch_wait=0.01), bus)
    await running.start()
    yield running
    await running.stop(timeout=5)
    await bus.close(timeout=5)


async def test_a_tampered_message_ends_in_the_dead_letters_not_in_the_events(service: CandystoreService) -> None:
    """A signed event is stored; a copy with another body under its headers is kept as a dead letter, not stored."""
    bus, store = service.bus, service.store
    assert bus.signatures is not None
    genuine = build_envelope(OFFER_TYPE, OFFER, source=SOURCE)
    body = msgspec.json.encode(genuine)
    headers = bus.signatures.sign(body)
    forged = {**genuine, "event_id": build_envelope(OFFER_TYPE, OFFER, source=SOURCE)["event_id"]}
    forged["payload"] = {**OFFER, "price": 0.01}
    messages = [
        OutgoingMessage(body, OFFER_TYPE, genuine["event_id"], headers),
        OutgoingMessage(msgspec.json.encode(forged), OFFER_TYPE, forged["event_id"], headers),
        OutgoingMessage(msgspec.json.encode(forged), OFFER_TYPE, forged["event_id"]),  # the same, unsigned
    ]
    await bus.transport.publish_batch(messages, timeout=5)

    async def letters_kept() -> bool:
        return len((await store.dead_letters()).items) == 2

    await eventually(letters_kept)
    assert await store.get(genuine["event_id"]) == genuine
    assert await store.get(forged["event_id"]) is None
    letters = sorted((await store.dead_letters()).items, key=lambda letter: str(letter.error))
    assert [letter.error for letter in letters] == [
        "BadSignature: no signature: the message carries no x-bloodbank-signature header",
        MISMATCH,
    ]
    assert {letter.consumer for letter in letters} == {STORE_QUEUE.name}
    assert {letter.event_id for letter in letters} == {forged["event_id"]}
    assert {letter.raw_body for letter in letters} == {messages[1].body}
    counted = service.registry.get_sample_value("candystore_store_total", {"outcome": "invalid"})
    assert counted == 2
    assert service.registry.get_sample_value("candystore_signatures_refused_total") == 2


async def test_a_replayed_dead_letter_is_signed_anew_and_stored(service: CandystoreService) -> None:
    """Replaying a refused unsigned letter publishes it through the bus's publisher: signed, it is stored."""
    bus, store = service.bus, service.store
    unsigned = build_envelope(OFFER_TYPE, OFFER, source=SOURCE)
    message = OutgoingMessage(msgspec.json.encode(unsigned), OFFER_TYPE, unsigned["event_id"])
    await bus.transport.publish_batch([message], timeout=5)

    async def letter_kept() -> bool:
        return len((await store.dead_letters()).items) == 1

    await eventually(letter_kept)
    (replay,) = await replay_dead_letters(store, bus.publisher, actor="test", filters=DeadLetterFilter())
    assert replay.outcome is ReplayOutcome.REPLAYED

    async def stored() -> bool:
        return await store.get(unsigned["event_id"]) is not None

    await eventually(stored)
    assert await store.get(unsigned["event_id"]) == unsigned  # it verified: the publisher signed it
