"""Demo traffic for ``33god up --demo``: the platform's own flows, correlated, a few of them failing.

Each flow publishes what the real producers would, with ``correlation_ids`` naming
the events that caused each one:

- fireflies: an upload → its transcript (by an agent) → a few segments;
- theboard: a meeting created → started → rounds → the brainstorm, whose parents
  are both the start and the last round (a multi-parent event);
- github: a pull request → its workflow runs, some of them failing; with ``github`` given, the
  pull request enters as a signed delivery to the gateway's ``/webhooks/github``;
- n8n: a workflow started by a transcript → completed, run by an agent;
- retail: inventory snapshots, offers of three teams and their placements on the site; now
  and then (a few percent, as in a healthy week) a team shows another price or stock than
  the inventory, or renders into a slot another team owns, and a preview no customer saw
  shows a price of its own (never a conflict).

A demo consumer (``demo.notifier``) reacts to workflow runs and fails on the failed
ones, so those end in the dead letters after their retries, as a real flaky
consumer's would. Payloads start from the schemas' own examples, so they stay valid
when a schema changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bloodbank import Bus, Event, timestamp_text
from holyfields import default_catalog
from stack.demo_webhooks import GithubDeliveries, pull_request_opened

__all__ = ["DEMO_CONSUMER", "DemoTraffic", "NotifierFailure", "notify"]

log = structlog.get_logger(__name__)

DEMO_CONSUMER = "demo.notifier"
"""The demo consumer that fails on failed workflow runs (they end in the dead letters)."""

TEAMS = ("magic-apron", "recs-search", "sponsored")
STORES = ("store-0121", "store-0348", "store-0777")
PRODUCTS = {"1004417382": 39.98, "2057731904": 12.47, "3318845120": 249.00, "4420019876": 5.29}
SLOT_OWNERS = {
    ("home", "hero"): "sponsored",
    ("home", "carousel-1"): "recs-search",
    ("category/paint", "hero"): "magic-apron",
    ("search", "sidebar"): "sponsored",
}
"""Which team each slot of the site belongs to."""
RETAIL_CONFLICT_SHARE = 0.015
"""Share of offers (and placements) that contradict the inventory, another team, or a slot's owner."""
SNAPSHOT_EVERY_FLOWS = 5
"""A store's inventory publishes a snapshot every few retail flows, not with each offer."""
PLACEMENT_EVERY_FLOWS = 4
RETAIL_STOCK_CHANGE_SHARE = 0.01
"""Chance, per product and snapshot, that a store's stock of it changes (sold out, restocked)."""
RETAIL_PREVIEW_SHARE = 0.05
"""Share of offers that are previews no customer saw (priced off on purpose: never a conflict)."""
AGENTS = (
    {"type": "claude", "name": "meeting-summariser", "mcp_servers": ["fireflies", "theboard"]},
    {"type": "claude", "name": "release-captain", "mcp_servers": ["github"]},
    {"type": "custom", "name": "workflow-runner"},
)


class NotifierFailure(RuntimeError):
    """The demo notifier cannot announce a failed run (retried, then dead-lettered)."""


def _now(offset_seconds: float = 0.0) -> str:
    return timestamp_text(datetime.now(UTC) + timedelta(seconds=offset_seconds))


def _short_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices("0123456789ABCDEFGHJKMNPQRSTVWXYZ", k=10))


class DemoTraffic:
    """Publishes realistic correlated flows at about ``flows_per_second`` until stopped."""

    def __init__(
        self,
        bus: Bus,
        *,
        flows_per_second: float = 1.0,
        seed: int | None = None,
        github: GithubDeliveries | None = None,
    ) -> None:
        self.bus = bus
        self.github_deliveries = github
        self.interval = 1.0 / flows_per_second
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not security
        catalog = default_catalog()
        self.examples = {str(schema.event_type): schema.examples[0] for schema in catalog.payload_schemas()}
        self.flows: tuple[Callable[[], Awaitable[None]], ...] = (
            self.fireflies,
            self.theboard,
            self.github,
            self.n8n,
            self.retail,
            self.retail,
        )
        self.published = 0
        self.stock: dict[str, dict[str, int]] = {}
        self.snapshots: dict[str, str] = {}  # the latest snapshot's id per store
        self.fixes: list[tuple[str, str, str]] = []  # team, store, product shown astray, corrected next
        self.retail_flows = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Start the failing demo consumer, then publish one flow per interval until ``stop`` is set."""
        await self.bus.subscribe(DEMO_CONSUMER, ["github.workflow.completed.v1", "n8n.workflow.completed.v1"], notify)
        if self.github_deliveries is not None:  # the gateway starts listening just after this starts
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        while not stop.is_set():
            try:
                await self.rng.choice(self.flows)()
            except Exception as exc:  # noqa: BLE001 - the demo goes on while the broker recovers
                log.warning("demo flow failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval * self.rng.uniform(0.5, 1.5))

    async def _publish(
        self,
        event_type: str,
        changes: Mapping[str, Any],
        *,
        app: str,
        parents: list[str] | None = None,
        agent: Mapping[str, Any] | None = None,
    ) -> str:
        payload = copy.deepcopy(self.examples[event_type]) | dict(changes)
        source = {"host": "demo.33god.local", "type": "agent" if agent else "system", "app": app}
        event_id = await self.bus.publish(
            event_type, payload, correlation_ids=parents or [], source=source, agent_context=agent
        )
        self.published += 1
        return event_id

    async def fireflies(self) -> None:
        upload_id = _short_id(self.rng, "up_")
        transcript_id = _short_id(self.rng, "tr_")
        title = self.rng.choice(("Weekly platform sync", "Candystore retro", "Pricing review", "On-call handover"))
        upload = await self._publish(
            "fireflies.transcript.upload.v1",
            {"upload_id": upload_id, "meeting_title": title, "uploaded_at": _now()},
            app="fireflies",
        )
        segments = self.rng.randint(2, 4)
        agent = {**AGENTS[0], "instance_id": str(uuid.uuid4())}
        ready = await self._publish(
            "fireflies.transcript.ready.v1",
            {
                "transcript_id": transcript_id,
                "upload_id": upload_id,
                "title": title,
                "segment_count": segments,
                "transcript_url": f"https://app.fireflies.ai/view/{transcript_id}",
            },
            app="fireflies",
            parents=[upload],
            agent=agent,
        )
        for index in range(segments):
            await self._publish(
                "fireflies.transcript.segment.v1",
                {
                    "transcript_id": transcript_id,
                    "segment_index": index,
                    "start_seconds": index * 8.0,
                    "end_seconds": index * 8.0 + 7.5,
                },
                app="fireflies",
                parents=[ready],
            )

    async def theboard(self) -> None:
        meeting_id = str(uuid.uuid4())
        created = await self._publish("theboard.meeting.created.v1", {"meeting_id": meeting_id}, app="theboard")
        started = await self._publish(
            "theboard.meeting.started.v1",
            {"meeting_id": meeting_id, "started_at": _now()},
            app="theboard",
            parents=[created],
        )
        last = started
        rounds = self.rng.randint(1, 3)
        for number in range(1, rounds + 1):
            last = await self._publish(
                "theboard.round.completed.v1",
                {
                    "meeting_id": meeting_id,
                    "round_number": number,
                    "consensus_score": round(0.4 + 0.2 * number, 2),
                    "completed_at": _now(),
                },
                app="theboard",
                parents=[last],
                agent={**AGENTS[0], "instance_id": str(uuid.uuid4())},
            )
        await self._publish(
            "theboard.brainstorm.completed.v1",
            {"meeting_id": meeting_id, "total_rounds": rounds, "completed_at": _now()},
            app="theboard",
            parents=[started, last],  # multi-parent: the meeting and its last round
        )

    async def github(self) -> None:
        number = self.rng.randint(100, 999)
        sha = "".join(self.rng.choices("0123456789abcdef", k=40))
        repository = self.rng.choice(("33god/bloodbank", "33god/candystore", "33god/holyfields"))
        if self.github_deliveries is not None:
            body = pull_request_opened(self.rng, repository=repository, number=number, sha=sha)
            opened = await self.github_deliveries.send("pull_request", body)
            self.published += 1
        else:
            opened = await self._publish(
                "github.pr.opened.v1",
                {
                    "repository": repository,
                    "number": number,
                    "head_sha": sha,
                    "opened_at": _now(),
                    "url": f"https://github.com/{repository}/pull/{number}",
                },
                app="github",
            )
        for workflow in ("ci", "lint"):
            run_id = self.rng.randint(10**9, 10**10)
            conclusion = "failure" if self.rng.random() < 0.15 else "success"  # noqa: PLR2004 - demo share
            await self._publish(
                "github.workflow.completed.v1",
                {
                    "repository": repository,
                    "workflow_name": workflow,
                    "run_id": run_id,
                    "head_sha": sha,
                    "conclusion": conclusion,
                    "pull_request_number": number,
                    "started_at": _now(-60),
                    "completed_at": _now(),
                    "url": f"https://github.com/{repository}/actions/runs/{run_id}",
                },
                app="github",
                parents=[opened],
                agent={**AGENTS[1], "instance_id": str(uuid.uuid4())},
            )

    async def n8n(self) -> None:
        execution = str(self.rng.randint(10_000, 99_999))
        agent = {**AGENTS[2], "instance_id": str(uuid.uuid4())}
        started = await self._publish(
            "n8n.workflow.started.v1", {"execution_id": execution, "started_at": _now()}, app="n8n", agent=agent
        )
        failed = self.rng.random() < 0.1  # noqa: PLR2004 - demo share
        await self._publish(
            "n8n.workflow.completed.v1",
            {
                "execution_id": execution,
                "status": "error" if failed else "success",
                "error_message": "TheBoard API answered 502" if failed else None,
                "started_at": _now(-3),
                "finished_at": _now(),
            },
            app="n8n",
            parents=[started],
            agent=agent,
        )

    async def retail(self) -> None:
        store = self.rng.choice(STORES)
        self.retail_flows += 1
        on_hand = self._stock(store)
        parents = []
        if self.retail_flows % SNAPSHOT_EVERY_FLOWS == 1 or store not in self.snapshots:
            items = [{"product_id": p, "on_hand": on_hand[p], "price": price} for p, price in PRODUCTS.items()]
            self.snapshots[store] = await self._publish(
                "retail.inventory.snapshot.v1", {"store_id": store, "as_of": _now(), "items": items}, app="inventory"
            )
        parents.append(self.snapshots[store])
        fixes, self.fixes = self.fixes, []
        shown = [*fixes, *((team, store, self.rng.choice(list(PRODUCTS))) for team in TEAMS)]
        for index, (team, where, product) in enumerate(shown):
            astray = index >= len(fixes) and self.rng.random() < RETAIL_CONFLICT_SHARE
            if astray:
                self.fixes.append((team, where, product))  # the team corrects it on the next flow
            preview = not astray and self.rng.random() < RETAIL_PREVIEW_SHARE
            stock = self._stock(where, change=False)[product]
            in_stock = stock > 0 if not astray else self.rng.random() < 0.5  # noqa: PLR2004 - half of them
            drift = self.rng.choice((0.9, 1.12)) if astray and in_stock == (stock > 0) else 1.0
            await self._publish(
                "retail.offer.surfaced.v1",
                {
                    "team": team,
                    "product_id": product,
                    "store_id": where,
                    "price": round(PRODUCTS[product] * (1.3 if preview else drift), 2),
                    "availability": "in_stock" if in_stock else "out_of_stock",
                    "quantity": max(stock, 1),
                    "customer_facing": not preview,
                    "surfaced_at": _now(),
                },
                app=team,
                parents=parents if where == store else [self.snapshots.get(where, parents[0])],
            )
        if self.retail_flows % PLACEMENT_EVERY_FLOWS == 1:
            await self._placement(store)

    def _stock(self, store: str, *, change: bool = True) -> dict[str, int]:
        """The store's units on hand: kept from one flow to the next, a product now and then sold out or restocked."""
        stock = self.stock.setdefault(store, {product: self.rng.choice((0, 3, 25, 80)) for product in PRODUCTS})
        for product in stock if change else ():
            if self.rng.random() < RETAIL_STOCK_CHANGE_SHARE:
                stock[product] = self.rng.choice((0, 3, 25, 80))
        return stock

    async def _placement(self, store: str) -> None:
        """A slot's owner renders into it; now and then another team renders into the same slot."""
        page, slot = self.rng.choice(list(SLOT_OWNERS))
        owner = SLOT_OWNERS[page, slot]
        intruder = self.rng.choice([team for team in TEAMS if team != owner])
        teams = [owner, intruder] if self.rng.random() < RETAIL_CONFLICT_SHARE else [owner]
        channel = self.rng.choice(("web", "app"))
        for team in teams:
            await self._publish(
                "retail.placement.rendered.v1",
                {
                    "team": team,
                    "page": page,
                    "slot": slot,
                    "product_id": self.rng.choice(list(PRODUCTS)),
                    "channel": channel,
                    "store_id": store,
                    "rendered_at": _now(),
                },
                app=team,
            )


async def notify(event: Event) -> None:
    """The demo notifier: announces completed runs, and cannot announce failed ones."""
    payload = event.document["payload"]
    if payload.get("conclusion") == "failure" or payload.get("status") == "error":
        raise NotifierFailure(f"chat webhook refused the message for {event.event_type} {event.event_id}")
