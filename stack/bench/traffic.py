"""Realistic envelopes for the benchmarks that move or store events: a weighted mix of every event type.

Retail offers dominate, as they do on the bus; transcripts, GitHub, meetings and n8n
follow; conflicts are rare. Payloads are the schemas' own examples. Some events name
parents among the recent ones, and some carry an agent context, so the stored rows
and their causation links look like production's.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from datetime import datetime
from typing import Any

from bloodbank import build_envelope, uuid7
from holyfields import default_catalog

__all__ = ["DOMAIN_WEIGHTS", "EnvelopeFactory"]

DOMAIN_WEIGHTS = {"retail": 40, "fireflies": 20, "github": 12, "theboard": 12, "n8n": 10, "visibility": 6}
"""Share of events per domain, in percent."""

_AGENT = {"type": "claude", "name": "meeting-summariser", "mcp_servers": ["fireflies", "github"]}
_PARENT_SHARE = 0.4
_SECOND_PARENT_SHARE = 0.05
_AGENT_SHARE = 0.2


class EnvelopeFactory:
    """Makes valid envelopes of the realistic mix, reproducibly for a given ``seed``."""

    def __init__(self, *, seed: int = 7) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible benchmark data, not secrets
        examples = [
            (str(doc.event_type), example) for doc in default_catalog().payload_schemas() for example in doc.examples
        ]
        self.choices = [item for item in examples if item[0].split(".")[0] in DOMAIN_WEIGHTS]
        domain_sizes = {
            domain: sum(1 for t, _ in self.choices if t.startswith(domain + ".")) for domain in DOMAIN_WEIGHTS
        }
        weights = [DOMAIN_WEIGHTS[t.split(".")[0]] / domain_sizes[t.split(".")[0]] for t, _ in self.choices]
        self._cumulative = list(itertools.accumulate(weights))
        self._recent: deque[str] = deque(maxlen=50)

    @property
    def event_types(self) -> list[str]:
        return sorted({event_type for event_type, _ in self.choices})

    def parents(self) -> list[str]:
        """Parents for the next event: none for most, one among the recent events for some, two for a few."""
        draw = self._rng.random()
        if not self._recent or draw >= _PARENT_SHARE:
            return []
        count = 2 if draw < _SECOND_PARENT_SHARE and len(self._recent) > 1 else 1
        return self._rng.sample(list(self._recent), count)

    def make(
        self,
        *,
        timestamp: datetime | None = None,
        correlation_ids: list[str] | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """The next envelope; ``timestamp`` defaults to now, parents to a realistic draw."""
        event_type, payload = self._rng.choices(self.choices, cum_weights=self._cumulative)[0]
        domain = event_type.split(".")[0]
        envelope = build_envelope(
            event_type,
            payload,
            source={"host": f"worker-{self._rng.randint(1, 9):02d}", "type": "webhook", "app": domain},
            correlation_ids=self.parents() if correlation_ids is None else correlation_ids,
            agent_context=_AGENT if self._rng.random() < _AGENT_SHARE else None,
            event_id=event_id or uuid7(),
            timestamp=timestamp,
        )
        self._recent.append(envelope["event_id"])
        return envelope

    def batch(self, count: int) -> list[dict[str, Any]]:
        return [self.make() for _ in range(count)]
