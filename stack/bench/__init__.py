"""Benchmarks: each measures ours and a baseline in the same run and returns the figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stack.bench.bus import run_bus
from stack.bench.deliveries import run_deliveries
from stack.bench.detector import run_detector
from stack.bench.gateway import run_gateway
from stack.bench.pipeline import run_pipeline
from stack.bench.store import run_store
from stack.bench.validation import run_validation

__all__ = ["BENCHMARKS"]

BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "validation": run_validation,
    "bus": run_bus,
    "pipeline": run_pipeline,
    "store": run_store,
    "gateway": run_gateway,
    "detector": run_detector,
    "deliveries": run_deliveries,
}
"""Benchmarks by name; each takes ``seconds`` and a ``console`` and returns its JSON figures."""
