"""The simulator: a reproducible, messy retail stream, labelled by a reference model of the rules, published."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from bloodbank import BloodbankSettings, BrokerUnavailable, Bus, Event, PublishStatus
from bloodbank.transport import OutgoingMessage, PublishResult
from visibility.cli import app
from visibility.domain.detection import DetectionEngine, Finding
from visibility.rules import load_rules, percent_apart
from visibility.tools.labels import Label, read_labels
from visibility.tools.reference import OFFER_TYPE, PLACEMENT_TYPE, SNAPSHOT_TYPE, ArrivingEvent, reference_labels
from visibility.tools.retail_stream import TEAMS, Injection, PlannedEvent, StreamConfig, plan_stream
from visibility.tools.simulator import publish_stream, stream_labels

RULES = load_rules()
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
PRICE, STOCK = "price_mismatch", "inventory_contradiction"


def counter_ids() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"00000000-0000-7000-8000-{next(numbers):012d}"


def busy_stream(seed: int = 7) -> list[PlannedEvent]:
    config = StreamConfig(seed=seed, rate=200, duration=30, time_scale=60, stores=4, products=30)
    return plan_stream(config, RULES, new_id=counter_ids()).events


# --- the stream -------------------------------------------------------------------------------


def test_the_same_seed_plans_the_same_stream():
    """A seed fixes the whole stream: events, times, payloads, order, duplicates and late ones."""
    first, again, other = busy_stream(7), busy_stream(7), busy_stream(8)
    assert first == again
    assert [event.body for event in first] != [event.body for event in other]


def test_the_stream_is_messy_the_way_real_traffic_is():
    """Three teams, snapshots every 5 minutes, duplicates, late offers, near-threshold noise and every planted kind."""
    events = busy_stream()
    offers = [event for event in events if event.event_type == OFFER_TYPE and not event.duplicate]
    assert {event.body["team"] for event in offers} == set(TEAMS)
    snapshot_times = sorted(
        {(event.body["store_id"], event.at) for event in events if event.event_type == SNAPSHOT_TYPE}
    )
    per_store: dict[str, list[float]] = {}
    for store, at in snapshot_times:
        per_store.setdefault(store, []).append(at)
    gaps = {round(b - a) for times in per_store.values() for a, b in itertools.pairwise(times)}
    assert gaps <= {300, 600}  # every 5 minutes, or 10 when the feed was down once
    ids = Counter(event.event_id for event in events)
    duplicates = [event for event in events if event.duplicate]
    assert duplicates
    assert all(ids[event.event_id] == 2 for event in duplicates)
    assert all(
        event.envelope(START, host="h") == _original(events, event).envelope(START, host="h") for event in duplicates
    )
    late = [event for event in events if event.late]
    assert late
    position = {event.event_id: index for index, event in enumerate(events) if not event.duplicate}
    overtaken = [
        event for event in late if any(other.at > event.at for other in events[: position[event.event_id]][-40:])
    ]
    assert overtaken, "late offers arrive after offers surfaced after them"
    notes = Counter(event.note for event in events if not event.duplicate)
    assert notes["near_threshold"] > 0
    assert all(notes[kind.value] > 0 for kind in Injection if kind is not Injection.STOCKOUT)
    assert any(event.note == "fix" for event in offers)
    previews = [event for event in offers if event.note == "preview"]
    assert previews
    assert all(event.body["customer_facing"] is False for event in previews)
    assert {event.body["currency"] for event in offers} == {"USD", "CAD"}
    placements = [event for event in events if event.event_type == PLACEMENT_TYPE and not event.duplicate]
    assert notes["placement"] > notes[Injection.SCREEN_SPACE.value] > 0
    assert {event.body["channel"] for event in placements} == {"web", "app"}
    snapshots = {event.event_id: event for event in events if event.event_type == SNAPSHOT_TYPE}
    for event in offers:
        parent = snapshots[event.parents[0]] if event.parents else None
        assert parent is None or (parent.body["store_id"] == event.body["store_id"] and parent.at <= event.at)
    assert sum(1 for event in offers if event.parents) > 0.95 * len(offers)  # the snapshot the team read


def _original(events: list[PlannedEvent], duplicate: PlannedEvent) -> PlannedEvent:
    return next(event for event in events if event.event_id == duplicate.event_id and not event.duplicate)


def test_near_threshold_noise_stays_under_the_threshold():
    """Noise offers sit close to the threshold from the inventory's price, but not above it."""
    events = busy_stream()
    truth: dict[tuple[str, str], float] = {}
    gaps = []
    for event in sorted((event for event in events if not event.duplicate), key=lambda event: event.at):
        if event.event_type == SNAPSHOT_TYPE:
            for item in event.body["items"]:
                truth[event.body["store_id"], item["product_id"]] = item["price"]
        elif event.note == "near_threshold":
            gaps.append(percent_apart(event.body["price"], truth[event.body["store_id"], event.body["product_id"]]))
    assert gaps
    assert max(gaps) <= 5.0
    assert max(gaps) > 2.5


def test_planted_conflicts_are_about_the_share_asked_for():
    """Most offers conflict with nothing; planted conflicts come close to the conflict rate."""
    config = StreamConfig(seed=3, rate=200, duration=30, time_scale=60, conflict_rate=0.05)
    stream = plan_stream(config, RULES, new_id=counter_ids())
    planted = sum(stream.planted[kind] for kind in Injection)
    assert 0.03 < planted / stream.offers < 0.07
    labels = stream_labels(RULES, stream.events, START)
    by_id = {event.event_id: event for event in stream.events}
    unplanned = [
        item for item in labels if all(by_id[i].note in {"offer", "near_threshold", "fix"} for i in item.event_ids)
    ]
    assert len(unplanned) <= 0.05 * len(labels)


# --- the labels ---------------------------------------------------------------------------------


def offer(  # noqa: PLR0917 - a row of the stream below
    event_id: str, team: str, product: str, store: str, price: float, seconds: float, **more: Any
) -> ArrivingEvent:
    payload = {
        "team": team,
        "product_id": product,
        "store_id": store,
        "price": price,
        "currency": "USD",
        "availability": more.pop("availability", "in_stock"),
        "surfaced_at": (START + timedelta(seconds=seconds)).isoformat(),
        **more,
    }
    return ArrivingEvent(event_id, OFFER_TYPE, payload)


def snapshot(event_id: str, store: str, seconds: float, items: dict[str, tuple[int, float]]) -> ArrivingEvent:
    lines = [{"product_id": product, "on_hand": on_hand, "price": price} for product, (on_hand, price) in items.items()]
    payload = {"store_id": store, "as_of": (START + timedelta(seconds=seconds)).isoformat(), "items": lines}
    return ArrivingEvent(event_id, SNAPSHOT_TYPE, payload)


HAND_MADE = [
    snapshot("e1", "s1", 0, {"p1": (0, 10.0), "p2": (50, 20.0), "p3": (3, 30.0)}),
    offer("e2", "magic-apron", "p2", "s1", 20.00, 10),
    offer("e3", "sponsored", "p2", "s1", 21.00, 20),  # exactly 5 % apart: not above the threshold
    offer("e4", "recs-search", "p2", "s1", 21.01, 30),  # 5.05 % from magic-apron and from the truth
    offer("e4", "recs-search", "p2", "s1", 21.01, 30),  # the same event again
    offer("e6", "magic-apron", "p1", "s1", 10.00, 40),  # in stock, none on hand
    offer("e7", "sponsored", "p2", "s1", 21.00, 50, availability="out_of_stock"),  # 50 on hand
    offer("e8", "magic-apron", "p2", "s1", 30.00, 5),  # late and older than magic-apron's e2: stale
    offer("e9", "recs-search", "p3", "s2", 99.00, 60),  # no truth for s2: unverifiable
    offer("e10", "magic-apron", "p3", "s1", 40.00, 700, availability="limited"),  # truth 700 s old: unverifiable
    snapshot("e11", "s1", 720, {"p1": (0, 10.0), "p2": (50, 20.0), "p3": (0, 30.0)}),  # now e10 contradicts it
    offer("e12", "sponsored", "p2", "s1", 25.00, 1000),  # its peers are more than 15 minutes older
]


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_reference_labels_on_a_hand_made_stream():
    """Thresholds, windows, staleness, redeliveries and both arrivals give exactly the expected conflicts."""
    assert sorted(reference_labels(RULES, HAND_MADE), key=lambda item: (item.became_true_at, item.key)) == [
        Label(PRICE, "p2", "s1", ("magic-apron", "recs-search"), at(30), ("e4", "e2")),
        Label(PRICE, "p2", "s1", ("recs-search",), at(30), ("e4", "e1")),
        Label(STOCK, "p1", "s1", ("magic-apron",), at(40), ("e6", "e1")),
        Label(STOCK, "p2", "s1", ("sponsored",), at(50), ("e7", "e1")),
        Label(STOCK, "p3", "s1", ("magic-apron",), at(720), ("e10", "e11")),
        Label(PRICE, "p3", "s1", ("magic-apron",), at(720), ("e10", "e11")),
        Label(PRICE, "p2", "s1", ("sponsored",), at(1000), ("e12", "e11")),
    ]


def engine_conflicts(events: list[ArrivingEvent]) -> dict[tuple[Any, ...], datetime]:
    """The detector's engine on the same arrivals (redeliveries dropped, as the bus does): first finding per key."""
    engine = DetectionEngine(RULES)
    seen: set[str] = set()
    first: dict[tuple[Any, ...], Finding] = {}
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        for finding in engine.on_event(event.event_type, event.payload, event.event_id):
            first.setdefault(finding.key, finding)  # one conflict per entity and teams while open
    return {
        (finding.rule, finding.product_id, finding.store_id, finding.teams): finding.occurred_at
        for finding in first.values()
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_the_labels_are_what_the_detection_engine_finds(seed):
    """Two independent statements of the rules agree on a simulated stream: the same conflicts, at the same times."""
    events = [event.arriving(START) for event in busy_stream(seed)]
    labels = {item.key: item.became_true_at for item in reference_labels(RULES, events)}
    assert len(labels) > 50
    assert labels == engine_conflicts(events)
    assert engine_conflicts(HAND_MADE) == {item.key: item.became_true_at for item in reference_labels(RULES, HAND_MADE)}


# --- publishing ---------------------------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def bus(request, tmp_path) -> AsyncIterator[Bus]:
    broker = request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq" else None
    started = await Bus.start(BloodbankSettings(broker_url=broker, data_dir=tmp_path / "bus", publish_timeout=10))
    yield started
    await started.close(timeout=5)


async def test_the_stream_is_published_on_schedule_and_labelled(bus, tmp_path):
    """Every event reaches a consumer once (the bus drops duplicates); the labels are those of what was published."""
    config = StreamConfig(seed=5, rate=150, duration=1.5, time_scale=60, stores=2, products=6, duplicate_share=0.05)
    stream = plan_stream(config, RULES)
    assert stream.planted["duplicates"] > 0
    received: list[str] = []

    async def collect(event: Event) -> None:
        received.append(event.event_id)

    await bus.subscribe("test.simulator", ["retail.#"], collect)
    path = tmp_path / "labels.jsonl"
    report = await publish_stream(bus, stream, RULES, path)
    unique = {event.event_id for event in stream.events}
    deadline = time.monotonic() + 30
    while len(received) < len(unique) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # a duplicate handled twice would show up now
    assert sorted(received) == sorted(unique)
    assert report.published == len(stream.events)
    assert not report.interrupted
    header, labels = read_labels(path)
    assert header.seed == 5
    assert header.time_scale == 60
    assert header.started_at == report.started_at
    assert header.extra["published"] == len(stream.events)
    assert header.extra["duplicates"] == stream.planted["duplicates"]
    expected = stream_labels(RULES, stream.events, report.started_at)
    assert sorted(labels, key=lambda item: item.key) == sorted(expected, key=lambda item: item.key)


async def test_an_interrupted_run_labels_what_it_published(bus, tmp_path):
    """Cancelled halfway, the simulator still writes the labels of the events it published."""
    config = StreamConfig(seed=9, rate=100, duration=30, time_scale=30, stores=2, products=6)
    stream = plan_stream(config, RULES)
    path = tmp_path / "labels.jsonl"
    task = asyncio.create_task(publish_stream(bus, stream, RULES, path))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    header, labels = read_labels(path)
    published = header.extra["published"]
    assert 0 < published < len(stream.events)
    assert header.extra["interrupted"] is True
    assert labels == sorted(
        stream_labels(RULES, stream.events[:published], header.started_at),
        key=lambda item: (item.became_true_at, item.key),
    )


async def test_a_broker_that_stops_confirming_ends_the_run_as_unavailable(bus, tmp_path):
    """Events the broker did not confirm end the run with BrokerUnavailable (exit 2), not as refused; labels kept."""
    config = StreamConfig(seed=3, rate=200, duration=2, time_scale=60, stores=2, products=6)
    stream = plan_stream(config, RULES)
    confirm = bus.transport.publish_each

    async def one_at_a_time(messages: Sequence[OutgoingMessage], *, timeout: float) -> list[PublishResult]:
        # The broker confirms one message per call: a batch ends partly confirmed, partly not.
        confirmed: list[PublishResult] = await confirm(messages[:1], timeout=timeout)
        return confirmed + [PublishResult.failed(m.message_id, PublishStatus.UNCONFIRMED, "gone") for m in messages[1:]]

    bus.transport.publish_each = one_at_a_time
    bus.publisher.publish_timeout = 0.2
    path = tmp_path / "labels.jsonl"
    with pytest.raises(BrokerUnavailable, match=r"^the broker did not confirm retail\.\S+ [0-9a-f-]{36}: "):
        await publish_stream(bus, stream, RULES, path)
    header, _ = read_labels(path)
    assert header.extra["published"] < len(stream.events)


# --- the command --------------------------------------------------------------------------------


def test_simulate_publishes_and_writes_the_labels(tmp_path, monkeypatch):
    """`visibility simulate` on the embedded broker publishes the stream and writes the labels it describes."""
    monkeypatch.setenv("BLOODBANK_DATA_DIR", str(tmp_path / "bus"))
    monkeypatch.delenv("BLOODBANK_BROKER_URL", raising=False)
    path = tmp_path / "labels.jsonl"
    arguments = ["simulate", "--labels", str(path), "--rate", "100", "--duration", "1", "--seed", "42"]
    result = CliRunner().invoke(app, [*arguments, "--time-scale", "60", "--stores", "2", "--products", "5"])
    assert result.exit_code == 0, result.output
    assert "true conflicts written to" in result.output
    assert "reached no consumer" not in result.output  # the store's queue, declared with the topology, holds them
    header, _ = read_labels(path)
    assert (header.seed, header.rate, header.duration, header.time_scale) == (42, 100.0, 1.0, 60.0)
    assert header.extra["published"] == header.extra["planned"] > 0
    assert json.loads(path.read_text().splitlines()[0])["kind"] == "header"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--conflict-rate", "2"], "--conflict-rate: must be between 0 and 1, got 2.0"),
        (["--time-scale", "0.5"], "--time-scale: must be at least 1"),
        (["--rate", "1", "--stores", "100", "--time-scale", "10"], "--rate: 1 events/s leaves no room for offers"),
        (["--labels", "/nowhere/labels.jsonl"], "the directory /nowhere does not exist"),
    ],
)
def test_simulate_refuses_options_that_cannot_work(tmp_path, arguments, message):
    """An impossible option is refused with exit code 1, naming the option, before anything is published."""
    base = ["simulate", "--labels", str(tmp_path / "labels.jsonl"), "--seed", "1"]
    result = CliRunner().invoke(app, [*base, *arguments])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "labels.jsonl").exists()


def test_simulate_refuses_a_bad_rules_file(tmp_path):
    """A rules file that does not validate is refused with the field's path."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: price_mismatch\n    kind: price_mismatch\n    version: 0\n")
    result = CliRunner().invoke(
        app, ["simulate", "--labels", str(tmp_path / "labels.jsonl"), "--rules", str(rules), "--seed", "1"]
    )
    assert result.exit_code == 1
    assert f"{rules}: rules[0].version:" in result.output
