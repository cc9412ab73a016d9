"""``publish`` takes the generated Pydantic model of an event type as well as a dict.

Every generated model, built from its schema's examples with datetimes of any offset and
any of its nullable fields set to ``None``, is written as a payload its JSON Schema accepts
and that reads back as the same model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bloodbank import BloodbankSettings, Bus, Event, build_envelope
from bloodbank.correlation import LocalCorrelationTracker
from bloodbank.idempotency import LocalIdempotencyStore
from bloodbank.payloads import payload_document
from bloodbank.transport.embedded import EmbeddedTransport
from holyfields import InvalidEvent, default_catalog, default_validator
from holyfields.generated.python import PAYLOAD_MODELS, RetailOfferSurfacedV1
from tests.bloodbank.waiting import eventually

SOURCE = {"host": "test", "type": "system", "app": "models"}
EVENT_TYPES = sorted(PAYLOAD_MODELS)
OFFER = default_catalog().get("retail.offer.surfaced.v1").examples[0]  # type: ignore[union-attr]

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)  # noqa: DTZ001 - bounds are naive by hypothesis's contract


def examples(event_type: str) -> list[dict[str, Any]]:
    schema = default_catalog().get(event_type)
    assert schema is not None
    return list(schema.examples)


def nullable(model: type[BaseModel], example: dict[str, Any]) -> list[str]:
    """The fields that take ``None`` and read back as ``None`` when left out: required ones, or a ``None`` default."""
    fields = []
    for name, field in model.model_fields.items():
        if not field.is_required() and field.default is not None:
            continue
        try:
            model.model_validate({**example, name: None})
        except ValidationError:
            continue
        fields.append(name)
    return fields


def datetime_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, field in model.model_fields.items() if "datetime" in str(field.annotation).lower()]


def schema_issues(event_type: str, document: dict[str, Any]) -> list[str]:
    envelope = build_envelope(event_type, document, source=SOURCE, correlation_ids=())
    return [str(issue) for issue in default_validator().validate(envelope)]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_generated_model_is_written_as_a_payload_its_schema_accepts(event_type: str, data: st.DataObject) -> None:
    """A model with any nullable fields set to None and datetimes at any offset validates, and reads back unchanged."""
    model_type = PAYLOAD_MODELS[event_type]
    example = data.draw(st.sampled_from(examples(event_type)), label="example")
    values = {**example}
    for name in data.draw(st.lists(st.sampled_from(nullable(model_type, example) or [""]), unique=True), label="none"):
        if name:
            values[name] = None
    for name in datetime_fields(model_type):
        if values.get(name) is not None:
            values[name] = data.draw(moments, label=name)
    model = model_type.model_validate(values)

    document = payload_document(event_type, model)

    assert schema_issues(event_type, document) == []
    assert model_type.model_validate(document) == model


@pytest.mark.parametrize(
    ("event_type", "field", "exclude_none", "refused"),
    [
        ("fireflies.transcript.ready.v1", "summary", True, "$.payload.summary: is required"),
        ("visibility.conflict.resolved.v1", "note", True, "$.payload.note: is required"),
        ("retail.offer.surfaced.v1", "quantity", False, "$.payload.quantity: expected integer, got null"),
    ],
)
def test_neither_exclude_none_setting_fits_every_schema(
    event_type: str, field: str, exclude_none: bool, refused: str
) -> None:
    """Required nullable fields need their null, optional plain ones need None left out: so the rule is per field."""
    model = PAYLOAD_MODELS[event_type].model_validate({**examples(event_type)[0], field: None})
    naive = model.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)
    assert any(issue.startswith(refused) for issue in schema_issues(event_type, naive))
    assert schema_issues(event_type, payload_document(event_type, model)) == []


def test_a_model_of_another_event_type_is_refused_naming_both() -> None:
    """A generated model given for another event type is an InvalidEvent that names the model and both types."""
    offer = RetailOfferSurfacedV1.model_validate(OFFER)
    with pytest.raises(InvalidEvent) as caught:
        payload_document("fireflies.transcript.ready.v1", offer)
    [issue] = caught.value.issues
    assert issue.path == "$.payload"
    assert issue.message == (
        "is a RetailOfferSurfacedV1, the payload of retail.offer.surfaced.v1, not of fireflies.transcript.ready.v1: "
        "publish it as 'retail.offer.surfaced.v1', or build a FirefliesTranscriptReadyV1"
    )


def test_a_payload_that_is_neither_a_dict_nor_a_model_is_a_type_error() -> None:
    """A list (or any other value) as payload is a TypeError that says what is taken."""
    with pytest.raises(TypeError, match=r"^the payload of retail\.offer\.surfaced\.v1 must be a dict or a Pydantic"):
        payload_document("retail.offer.surfaced.v1", [OFFER])  # type: ignore[arg-type]


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[Bus]:
    started = await Bus.start(
        BloodbankSettings(data_dir=tmp_path, publish_timeout=5.0),
        transport=EmbeddedTransport(tmp_path / "bus.sqlite3"),
        idempotency=LocalIdempotencyStore(tmp_path / "handled.sqlite3", ttl=3600),
        tracker=LocalCorrelationTracker(ttl=3600),
    )
    yield started
    await started.close(timeout=5)


async def test_bus_publishes_a_generated_model_and_the_handler_gets_it_back(bus: Bus) -> None:
    """bus.publish(type, Model(...)) with an aware datetime is confirmed; the consumer's payload equals the model."""
    received: list[Event] = []

    async def handle(event: Event) -> None:
        received.append(event)

    await bus.subscribe("models.typed", ["retail.#"], handle)
    offer = RetailOfferSurfacedV1.model_validate(
        {**OFFER, "quantity": None, "surfaced_at": datetime(2026, 11, 2, 15, 3, 27, 512000, tzinfo=UTC)}
    )
    event_id = await bus.publish("retail.offer.surfaced.v1", offer)
    await eventually(lambda: len(received) == 1)
    assert received[0].event_id == event_id
    assert received[0].payload == offer
    assert received[0].document["payload"]["surfaced_at"] == "2026-11-02T15:03:27.512000Z"
    assert "quantity" not in received[0].document["payload"]


async def test_bus_refuses_a_model_of_another_event_type_before_publishing(bus: Bus) -> None:
    """Publishing an offer model as a transcript raises InvalidEvent naming the mismatch; nothing is queued."""
    await bus.subscribe("models.guard", ["#"], lambda _event: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidEvent, match=r"is a RetailOfferSurfacedV1, the payload of retail\.offer\.surfaced\.v1"):
        await bus.publish("fireflies.transcript.ready.v1", RetailOfferSurfacedV1.model_validate(OFFER))
    assert await bus.transport.queue_depth("models.guard") == 0
