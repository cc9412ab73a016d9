"""The labels file: the true conflicts of a simulated stream, written by ``simulate``, read by ``evaluate``.

JSON Lines. The first line is the header, describing the run::

    {"kind": "header", "seed": 7, "rate": 200.0, "duration": 60.0, "conflict_rate": 0.02,
     "started_at": "2026-11-30T10:00:00.000000Z", "time_scale": 1.0, ...}

then one true conflict per line::

    {"rule": "price_mismatch", "product_id": "1004417382", "store_id": "store-0121",
     "teams": ["magic-apron", "sponsored"], "became_true_at": "2026-11-30T10:00:03.210000Z",
     "event_ids": ["…", "…"]}

Event times are simulated: with ``time_scale`` K, a moment ``t`` of the stream happened
on the wall clock at ``started_at + (t - started_at) / K`` (:meth:`LabelsHeader.wall_clock`).
A bad file raises :class:`LabelsError` naming the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

__all__ = ["ConflictKey", "Label", "LabelsError", "LabelsHeader", "format_time", "read_labels", "write_labels"]

_T = TypeVar("_T")

ConflictKey = tuple[str, str, str, tuple[str, ...]]
"""What identifies a conflict while it is open: rule, product, store and the sorted teams."""


class LabelsError(ValueError):
    """The labels file cannot be read: ``location`` says where (``FILE:LINE``), the message what."""

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        super().__init__(f"{location}: {message}")


class _Header(msgspec.Struct, forbid_unknown_fields=False):
    kind: str
    seed: int
    rate: float
    duration: float
    conflict_rate: float
    started_at: datetime
    time_scale: float = 1.0


class _Label(msgspec.Struct, forbid_unknown_fields=True):
    rule: str
    product_id: str
    store_id: str
    teams: list[str]
    became_true_at: datetime
    event_ids: list[str]


@dataclass(frozen=True, slots=True)
class LabelsHeader:
    """How the stream was made; ``extra`` keeps any further figures the simulator recorded."""

    seed: int
    rate: float
    duration: float
    conflict_rate: float
    started_at: datetime
    time_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def wall_clock(self, moment: datetime) -> datetime:
        """When a moment of the (possibly compressed) stream happened on the wall clock."""
        return self.started_at + (moment - self.started_at) / self.time_scale

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "header",
            "seed": self.seed,
            "rate": self.rate,
            "duration": self.duration,
            "conflict_rate": self.conflict_rate,
            "started_at": format_time(self.started_at),
            "time_scale": self.time_scale,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Label:
    """One true conflict: it became true at ``became_true_at`` through the events ``event_ids``."""

    rule: str
    product_id: str
    store_id: str
    teams: tuple[str, ...]
    became_true_at: datetime
    event_ids: tuple[str, ...]

    @property
    def key(self) -> ConflictKey:
        return (self.rule, self.product_id, self.store_id, self.teams)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "product_id": self.product_id,
            "store_id": self.store_id,
            "teams": list(self.teams),
            "became_true_at": format_time(self.became_true_at),
            "event_ids": list(self.event_ids),
        }


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_labels(path: Path, header: LabelsHeader, labels: Iterable[Label]) -> None:
    """Write the header and the labels (sorted by when they became true) as JSON Lines."""
    lines = [msgspec.json.encode(header.to_json())]
    lines += [msgspec.json.encode(label.to_json()) for label in sorted(labels, key=_order)]
    path.write_bytes(b"\n".join(lines) + b"\n")


def _order(label: Label) -> tuple[datetime, ConflictKey]:
    return label.became_true_at, label.key


def read_labels(path: Path) -> tuple[LabelsHeader, list[Label]]:
    """The header and the labels of ``path``; raises :class:`LabelsError` on anything unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(str(path), f"cannot read the labels file: {getattr(exc, 'strerror', None) or exc}") from exc
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise LabelsError(str(path), "empty: expected a header line, then one conflict per line")
    number, first = lines[0]
    header = _decode(path, number, first, _Header)
    if header.kind != "header":
        raise LabelsError(f"{path}:{number}", f'$.kind: expected "header" on the first line, got {header.kind!r}')
    _check_aware(path, number, "started_at", header.started_at)
    if header.time_scale <= 0:
        raise LabelsError(f"{path}:{number}", f"$.time_scale: must be above 0, got {header.time_scale}")
    known = set(_Header.__struct_fields__)
    extra = {key: value for key, value in msgspec.json.decode(first).items() if key not in known}
    labels = []
    for number, line in lines[1:]:
        raw = _decode(path, number, line, _Label)
        _check_aware(path, number, "became_true_at", raw.became_true_at)
        labels.append(
            Label(
                rule=raw.rule,
                product_id=raw.product_id,
                store_id=raw.store_id,
                teams=tuple(sorted(raw.teams)),
                became_true_at=raw.became_true_at,
                event_ids=tuple(raw.event_ids),
            )
        )
    started_at = header.started_at
    result = LabelsHeader(
        seed=header.seed,
        rate=header.rate,
        duration=header.duration,
        conflict_rate=header.conflict_rate,
        started_at=started_at,
        time_scale=header.time_scale,
        extra=extra,
    )
    return result, labels


def _decode(path: Path, number: int, line: str, kind: type[_T]) -> _T:
    try:
        return msgspec.json.decode(line, type=kind)
    except msgspec.ValidationError as exc:
        raise LabelsError(f"{path}:{number}", _msgspec_path(str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise LabelsError(f"{path}:{number}", f"not a JSON object: {exc}") from exc


def _msgspec_path(message: str) -> str:
    """msgspec says ``Expected `str`, got `int` - at `$.rule```: put the path first, as everywhere else."""
    text, sep, where = message.rpartition(" - at ")
    if not sep:
        return message
    return f"{where.strip('`')}: {text}"


def _check_aware(path: Path, number: int, name: str, moment: datetime) -> None:
    if moment.tzinfo is None:
        raise LabelsError(f"{path}:{number}", f"$.{name}: needs a UTC offset, e.g. 2026-11-30T10:00:00Z")
