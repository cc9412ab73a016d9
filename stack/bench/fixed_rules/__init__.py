"""The fixed-code detection the rule engine is measured against (``33god bench detector``)."""

from stack.bench.fixed_rules.engine import DetectionEngine, Finding
from stack.bench.fixed_rules.observations import Offer, Snapshot

__all__ = ["DetectionEngine", "Finding", "Offer", "Snapshot"]
