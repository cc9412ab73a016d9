"""``33god bench validation``: bytes in, validated envelope and payload out, against ``jsonschema``.

The mix is realistic: every registered event type, payloads from the schemas'
examples, parents and agent context on some events, and 1% invalid events
(which both sides must reject). Both sides run on one core, one after the other,
each for the same time.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import jsonschema
import msgspec
import referencing
from rich.console import Console

from holyfields.catalog import Catalog
from holyfields.naming import ENVELOPE_ID
from holyfields.validation import EventValidator, InvalidEvent

__all__ = ["make_events", "run_validation"]

INVALID_SHARE = 0.01


def make_events(catalog: Catalog, count: int, *, seed: int = 7) -> list[bytes]:
    """``count`` encoded events across every event type; about 1% of them invalid."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    payloads = [(str(doc.event_type), example) for doc in catalog.payload_schemas() for example in doc.examples]
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    recent: list[str] = []
    events = []
    for index in range(count):
        event_type, payload = rng.choice(payloads)
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event: dict[str, Any] = {
            "event_id": event_id,
            "event_type": event_type,
            "timestamp": (start + timedelta(milliseconds=index * 37)).isoformat(),
            "version": "1.0.0",
            "source": {"host": f"worker-{rng.randint(1, 9):02d}", "type": "webhook", "app": event_type.split(".")[0]},
            "correlation_ids": rng.sample(recent, k=min(len(recent), rng.choice((0, 1, 1, 2)))),
            "payload": payload,
        }
        if rng.random() < 0.2:  # noqa: PLR2004
            event["agent_context"] = {"type": "claude", "name": "summariser", "mcp_servers": ["fireflies"]}
        if rng.random() < INVALID_SHARE:
            event["event_id"] = "not-a-uuid"
        recent = [*recent[-20:], event_id]
        events.append(msgspec.json.encode(event))
    return events


def _measure(
    label: str, check: Callable[[bytes], bool], events: list[bytes], seconds: float, console: Console
) -> float:
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    with console.status(f"measuring {label}…"):
        while time.perf_counter() < deadline:
            for raw in events:
                check(raw)
            done += len(events)
    return done / (time.perf_counter() - started)


def _baseline(catalog: Catalog) -> Callable[[bytes], bool]:
    """The same checks with the ``jsonschema`` library: one compiled validator per event type."""
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (doc.schema_id, referencing.Resource.from_contents(dict(doc.content))) for doc in catalog.documents
    )
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    validators = {
        event_type: jsonschema.Draft7Validator(
            {"allOf": [{"$ref": ENVELOPE_ID}], "properties": {"payload": {"$ref": catalog.get(event_type).schema_id}}},  # type: ignore[union-attr]
            registry=registry,
            format_checker=checker,
        )
        for event_type in catalog.event_types
    }

    def check(raw: bytes) -> bool:
        event = json.loads(raw)
        validator = validators[event["event_type"]]
        if validator.is_valid(event):
            return True
        list(validator.iter_errors(event))
        return False

    return check


def run_validation(*, seconds: float, console: Console) -> dict[str, Any]:
    catalog = Catalog.load()
    events = make_events(catalog, 20_000)
    validator = EventValidator(catalog)

    def ours(raw: bytes) -> bool:
        try:
            validator.parse(raw)
        except InvalidEvent:
            return False
        return True

    baseline = _baseline(catalog)
    if [ours(e) for e in events[:2000]] != [baseline(e) for e in events[:2000]]:
        raise RuntimeError("ours and the baseline disagree on which events are valid")
    ours_rate = _measure("holyfields (jsonschema-rs)", ours, events, seconds, console)
    base_rate = _measure("jsonschema", baseline, events, seconds, console)
    console.print(f"holyfields  {ours_rate:>12,.0f} events/s")
    console.print(f"jsonschema  {base_rate:>12,.0f} events/s")
    return {
        "bench": "validation",
        "unit": "events/s",
        "ours": round(ours_rate),
        "baseline": {"name": f"jsonschema {version('jsonschema')}", "value": round(base_rate)},
        "ratio": round(ours_rate / base_rate, 2),
        "events": len(events),
        "invalid_share": INVALID_SHARE,
    }
