"""What ``publish`` takes as a payload: a mapping, or a Pydantic model such as the generated ones.

A model is written as JSON (``mode="json"``: datetimes as RFC 3339, UUIDs and URLs as
text) under its fields' aliases. Its ``None`` values need care: the generated models
make every optional field nullable in Python, while the schemas allow ``null`` only
where they say so, and some of those fields are required (``summary`` of
``fireflies.transcript.ready.v1``, ``note`` of ``visibility.conflict.resolved.v1``).
``exclude_none=True`` would drop those required nulls, ``exclude_none=False`` would
write ``null`` into optional fields whose schema refuses it (``quantity`` of
``retail.offer.surfaced.v1``). So a ``None`` is written as ``null`` in a field the model
requires, and left out of one it does not, at every depth.

A generated model belongs to one event type (``holyfields.generated.python.PAYLOAD_MODELS``);
given for another, it is refused naming both, before any schema is consulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, RootModel

from holyfields import InvalidEvent, ValidationIssue
from holyfields.generated.python import PAYLOAD_MODELS

__all__ = ["Payload", "payload_document"]

Payload = Mapping[str, Any] | BaseModel
"""A payload as ``publish`` takes it."""

_EVENT_TYPE_OF_MODEL: dict[type[BaseModel], str] = {model: event_type for event_type, model in PAYLOAD_MODELS.items()}


def payload_document(event_type: str, payload: Payload) -> dict[str, Any]:
    """``payload`` as the JSON object the envelope carries; :class:`InvalidEvent` for a model of another event type."""
    if isinstance(payload, BaseModel):
        _check_event_type(event_type, type(payload))
        document = payload.model_dump(mode="json", by_alias=True)
        _drop_optional_nones(payload, document)
        if not isinstance(document, dict):  # a RootModel of something else than an object
            raise InvalidEvent([ValidationIssue("$.payload", f"{type(payload).__name__} is not a JSON object")])
        return document
    if isinstance(payload, Mapping):
        return dict(payload)
    raise TypeError(
        f"the payload of {event_type} must be a dict or a Pydantic model (e.g. {_model_name(event_type)}), "
        f"got {type(payload).__name__}"
    )


def _check_event_type(event_type: str, model: type[BaseModel]) -> None:
    owner = next((_EVENT_TYPE_OF_MODEL[kind] for kind in model.__mro__ if kind in _EVENT_TYPE_OF_MODEL), None)
    if owner is None or owner == event_type:
        return
    raise InvalidEvent(
        [
            ValidationIssue(
                "$.payload",
                f"is a {model.__name__}, the payload of {owner}, not of {event_type}: publish it as {owner!r}, "
                f"or build a {_model_name(event_type)}",
            )
        ]
    )


def _model_name(event_type: str) -> str:
    model = PAYLOAD_MODELS.get(event_type)
    return model.__name__ if model is not None else "the model of that event type"


def _drop_optional_nones(value: object, dumped: object) -> None:
    """Remove from ``dumped`` (``value`` as JSON) the ``None`` of every field its model does not require."""
    if isinstance(value, RootModel):
        _drop_optional_nones(value.root, dumped)
    elif isinstance(value, BaseModel) and isinstance(dumped, dict):
        _drop_from_model(value, dumped)
    elif isinstance(value, list | tuple) and isinstance(dumped, list):
        for item, dumped_item in zip(value, dumped, strict=False):
            _drop_optional_nones(item, dumped_item)
    elif isinstance(value, Mapping) and isinstance(dumped, dict):
        for key, item in value.items():
            if str(key) in dumped:
                _drop_optional_nones(item, dumped[str(key)])


def _drop_from_model(model: BaseModel, dumped: dict[str, Any]) -> None:
    for name, field in type(model).model_fields.items():
        key = field.serialization_alias or field.alias or name
        if key not in dumped:
            continue
        inner = getattr(model, name)
        if inner is not None:
            _drop_optional_nones(inner, dumped[key])
        elif not field.is_required():
            del dumped[key]
