"""Demo traffic: every flow publishes valid, correlated events; failed runs fail the demo notifier."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bloodbank import BloodbankSettings, Bus, Event, build_envelope
from stack.demo import DemoTraffic, NotifierFailure, notify
from visibility.domain.detection import DetectionEngine
from visibility.rules import load_rules


async def test_each_flow_publishes_valid_correlated_events(tmp_path: Path) -> None:
    """Fireflies, theboard, github, n8n and retail flows: valid envelopes, parents named, agents and multi-parents."""
    bus = await Bus.start(BloodbankSettings(data_dir=tmp_path))
    seen: list[Event] = []
    try:

        async def keep(event: Event) -> None:
            seen.append(event)

        await bus.subscribe("test.demo", ["#"], keep)
        demo = DemoTraffic(bus, seed=7)
        for flow in (demo.fireflies, demo.theboard, demo.github, demo.n8n, demo.retail):
            await flow()
        for _ in range(200):
            if len(seen) >= demo.published:
                break
            await asyncio.sleep(0.05)
    finally:
        await bus.close()
    assert len(seen) == demo.published
    by_id = {event.event_id: event.document for event in seen}
    types = Counter(document["event_type"] for document in by_id.values())
    assert set(types) >= {
        "fireflies.transcript.upload.v1",
        "fireflies.transcript.ready.v1",
        "fireflies.transcript.segment.v1",
        "theboard.brainstorm.completed.v1",
        "github.workflow.completed.v1",
        "n8n.workflow.completed.v1",
        "retail.inventory.snapshot.v1",
        "retail.offer.surfaced.v1",
        "retail.placement.rendered.v1",
    }
    for document in by_id.values():  # every parent named is an event of the demo
        assert all(parent in by_id for parent in document["correlation_ids"])
    brainstorm = next(d for d in by_id.values() if d["event_type"] == "theboard.brainstorm.completed.v1")
    assert len(brainstorm["correlation_ids"]) == 2
    ready = next(d for d in by_id.values() if d["event_type"] == "fireflies.transcript.ready.v1")
    assert ready["agent_context"]["name"] == "meeting-summariser"
    assert by_id[ready["correlation_ids"][0]]["event_type"] == "fireflies.transcript.upload.v1"
    assert {d["source"]["app"] for d in by_id.values()} >= {"fireflies", "theboard", "github", "n8n", "inventory"}


@pytest.mark.parametrize(
    ("event_type", "changes", "fails"),
    [
        ("github.workflow.completed.v1", {"conclusion": "failure"}, True),
        ("github.workflow.completed.v1", {"conclusion": "success"}, False),
        ("n8n.workflow.completed.v1", {"status": "error", "error_message": "502"}, True),
        ("n8n.workflow.completed.v1", {"status": "success"}, False),
    ],
)
async def test_the_notifier_fails_on_failed_runs_only(event_type: str, changes: dict[str, str], fails: bool) -> None:
    """Failed runs raise (so they retry and end in the dead letters); successful ones are handled."""
    from holyfields import default_catalog  # noqa: PLC0415

    example = next(s.examples[0] for s in default_catalog().payload_schemas() if str(s.event_type) == event_type)
    event = Event(build_envelope(event_type, example | changes, source={"host": "h", "type": "system"}), attempt=1)
    if fails:
        with pytest.raises(NotifierFailure, match="chat webhook refused"):
            await notify(event)
    else:
        await notify(event)


async def test_the_demo_conflicts_at_a_realistic_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few percent of the demo's offers and placements contradict something, as in a healthy week, not half."""
    engine = DetectionEngine(load_rules())
    conflicting = 0

    async def detect(event_type: str, payload: dict[str, Any], **_: Any) -> str:
        nonlocal conflicting
        event_id = str(uuid.uuid4())
        complete = copy.deepcopy(demo.examples[event_type]) | payload  # as the demo publishes it
        conflicting += bool(engine.on_event(event_type, complete, event_id))
        return event_id

    bus = await Bus.start(BloodbankSettings(data_dir=tmp_path))
    try:
        demo = DemoTraffic(bus, seed=5)
        monkeypatch.setattr(demo, "_publish", detect)
        for _ in range(500):
            await demo.retail()
    finally:
        await bus.close(timeout=5)
    checked = engine.take_counts()
    assert checked.previews > 0
    assert 0.005 < conflicting / checked.events < 0.05
