"""``publish_many`` answers every event with its outcome and never raises part-way.

A scripted transport (the embedded broker with its answers rigged per message) gives
each kind of answer in one batch; RabbitMQ shows the connection dying between windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bloodbank import BloodbankSettings, BrokerUnavailable, Bus, PublishStatus, build_envelope
from bloodbank.correlation import LocalCorrelationTracker
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.topology import ConsumerSpec
from bloodbank.transport import OutgoingMessage, PublishResult, Transport
from bloodbank.transport.embedded import EmbeddedTransport
from bloodbank.transport.rabbitmq import RabbitMQTransport
from holyfields import default_catalog
from tests.bloodbank.test_rabbitmq_transport import close_connections_of

OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = default_catalog().get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE = {"host": "test", "type": "system", "app": "outcomes"}


def offers(count: int) -> list[dict[str, Any]]:
    return [build_envelope(OFFER_TYPE, OFFER, source=SOURCE, correlation_ids=()) for _ in range(count)]


class Rigged:
    """Answers the publishes of chosen message ids with a fixed status; the others go to the real transport."""

    def __init__(self, transport: Transport, answers: dict[str, PublishStatus]) -> None:
        self.publish_each = transport.publish_each
        self.answers = answers
        self.calls: list[list[str]] = []

    async def __call__(self, messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        self.calls.append([m.message_id for m in messages])
        real = [m for m in messages if m.message_id not in self.answers]
        published = iter(await self.publish_each(real, timeout=timeout) if real else [])
        return [
            PublishResult.failed(m.message_id, self.answers[m.message_id], f"rigged {self.answers[m.message_id]}")
            if m.message_id in self.answers
            else next(published)
            for m in messages
        ]


async def start_bus(transport: Transport, tmp_path: Path, **settings: Any) -> Bus:
    return await Bus.start(
        BloodbankSettings(data_dir=tmp_path, **settings),
        transport=transport,
        idempotency=LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600),
        tracker=LocalCorrelationTracker(ttl=3600),
    )


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[Bus]:
    started = await start_bus(EmbeddedTransport(tmp_path / "bus.sqlite3"), tmp_path, publish_timeout=0.3)
    yield started
    await started.close(timeout=5)


def published_count(bus: Bus, outcome: str) -> float:
    return sum(
        sample.value
        for metric in bus.metrics.publish.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["outcome"] == outcome
    )


async def test_a_batch_with_every_outcome_answers_each_event_in_order(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Confirmed, invalid, nacked, returned and unconfirmed events of one batch: no exception, one outcome each."""
    envelopes = offers(6)
    envelopes[1]["payload"] = {**OFFER, "price": -1}
    ids = [str(e["event_id"]) for e in envelopes]
    rigged = Rigged(
        bus.transport,
        {ids[2]: PublishStatus.NACKED, ids[3]: PublishStatus.RETURNED, ids[4]: PublishStatus.UNCONFIRMED},
    )
    monkeypatch.setattr(bus.transport, "publish_each", rigged)
    outcomes = await bus.publisher.publish_many(envelopes)
    assert [(o.event_id, o.status) for o in outcomes] == list(
        zip(
            ids,
            [
                PublishStatus.CONFIRMED,
                PublishStatus.INVALID,
                PublishStatus.NACKED,
                PublishStatus.RETURNED,
                PublishStatus.UNCONFIRMED,
                PublishStatus.CONFIRMED,
            ],
            strict=True,
        )
    )
    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert outcomes[1].issues[0].path == "$.payload.price"
    assert (outcomes[2].error, outcomes[3].error) == ("rigged nacked", "rigged returned")
    assert outcomes[4].error == "the broker did not confirm within 0.3 s: rigged unconfirmed"
    assert all(call == [ids[4]] for call in rigged.calls[1:])  # only the unconfirmed one is sent again
    assert len(rigged.calls) > 2
    assert await bus.transport.queue_depth("candystore.events") == 2
    counted = {name: published_count(bus, name) for name in ("ok", "invalid", "failed", "unavailable")}
    assert counted == {"ok": 2, "invalid": 1, "failed": 2, "unavailable": 1}


async def test_an_event_confirmed_on_a_later_attempt_is_confirmed(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event unconfirmed at first (the broker was away a moment) is sent again and ends confirmed."""
    [envelope] = offers(1)
    rigged = Rigged(bus.transport, {str(envelope["event_id"]): PublishStatus.UNCONFIRMED})
    original = rigged.__call__

    async def back_after_one(messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        if rigged.calls:
            rigged.answers.clear()
        return await original(messages, timeout=timeout)

    monkeypatch.setattr(bus.transport, "publish_each", back_after_one)
    [outcome] = await bus.publisher.publish_many([envelope])
    assert outcome.status is PublishStatus.CONFIRMED
    assert len(rigged.calls) == 2


async def test_nothing_confirmed_and_the_broker_away_raises_for_the_whole_call(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no event of the call was confirmed and the broker stayed away, BrokerUnavailable says retry it all."""
    envelopes = offers(3)
    envelopes[0]["payload"] = {}
    rigged = Rigged(bus.transport, {str(e["event_id"]): PublishStatus.UNCONFIRMED for e in envelopes})
    monkeypatch.setattr(bus.transport, "publish_each", rigged)
    with pytest.raises(BrokerUnavailable, match=r"^the broker did not confirm within 0\.3 s: rigged unconfirmed$"):
        await bus.publisher.publish_many(envelopes)


async def test_the_windows_after_one_left_unconfirmed_are_not_sent(tmp_path: Path) -> None:
    """With the broker gone after the first window, the later windows are answered unconfirmed without a try."""
    transport = EmbeddedTransport(tmp_path / "bus.sqlite3")
    bus = await start_bus(transport, tmp_path, publish_timeout=0.2, publish_window=2)
    try:
        confirm = transport.publish_each
        windows: list[int] = []

        async def gone_after_the_first(messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
            windows.append(len(messages))
            if len(windows) > 1:
                return [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, "gone") for m in messages]
            return await confirm(messages, timeout=timeout)

        transport.publish_each = gone_after_the_first  # type: ignore[method-assign]
        outcomes = await bus.publisher.publish_many(offers(7))
        assert [o.status for o in outcomes] == [PublishStatus.CONFIRMED] * 2 + [PublishStatus.UNCONFIRMED] * 5
        assert outcomes[2].error == "the broker did not confirm within 0.2 s: gone"
        assert outcomes[4].error == f"not sent: an earlier part of the batch was not confirmed ({outcomes[2].error})"
        assert set(windows[1:]) == {2}
    finally:
        await bus.close(timeout=5)


@pytest.mark.rabbitmq
async def test_a_connection_lost_mid_batch_leaves_the_rest_unconfirmed(rabbitmq_url: str, tmp_path: Path) -> None:
    """RabbitMQ drops the connection after the first window: it stays confirmed, the rest is unconfirmed, no raise."""
    transport = RabbitMQTransport(rabbitmq_url, connection_name="outcomes", call_timeout=5)
    bus = await start_bus(transport, tmp_path, publish_timeout=1.0, publish_window=50)
    try:
        await transport.declare_consumer(ConsumerSpec("outcomes.kept", ("retail.#",)))
        confirm = transport.publish_each
        calls = 0

        async def drop_after_the_first(messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
            nonlocal calls
            calls += 1
            results = await confirm(messages, timeout=timeout)
            if calls == 1:
                await asyncio.to_thread(close_connections_of, rabbitmq_url.rsplit("/", 1)[1])
            return results

        transport.publish_each = drop_after_the_first  # type: ignore[method-assign]
        outcomes = await bus.publisher.publish_many(offers(120))
        assert [o.status for o in outcomes] == [PublishStatus.CONFIRMED] * 50 + [PublishStatus.UNCONFIRMED] * 70
        assert "RabbitMQ" in str(outcomes[50].error)
    finally:
        await bus.close(timeout=5)
