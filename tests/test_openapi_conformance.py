"""The OpenAPI documents of the gateway, Candystore and the visibility API say exactly what they answer.

Schemathesis runs every phase (examples, coverage, fuzzing, stateful) with every check against
each app in process, on the embedded bus and SQLite, derandomized with a fixed seed and a
bounded number of examples per operation. Four settings shape the run:

- ``allow-x00`` is off: no string of any of the three APIs may hold U+0000 (PostgreSQL cannot
  store it, so the edge refuses it at its path, as their documents say); JSON Schema has no
  way to say this of every string at once, so generating it would only show that refusal again.
- ``negative_data_rejection`` is off for ``POST /events/batch`` alone: by design a batch is
  answered 200 with one result per event, an event that breaks its schema being ``rejected``
  with its errors while the others are published; only a body that is not a batch at all is a 422.
- ``GET /stats`` takes a window (``since`` not after ``until``, at most 31 days, ``until`` now when
  absent): a rule between parameters that no schema can state, so a hook keeps the windows it
  allows (:func:`filter_query`); each parameter on its own is still drawn from its schema.
- ``cursor`` parameters have the format ``x-cursor``: an opaque position the API issued. The
  strategy registered for it builds positions the way the stores do (a cursor not issued by the
  store is a documented 422), so that a schema-valid cursor is one that can be accepted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import HookContext
from schemathesis.python.asgi import shutdown_lifespans

from bloodbank import Publisher
from bloodbank.gateway import create_gateway
from bloodbank.openapi import AGENT_CONTEXT_FORMAT
from bloodbank.settings import BloodbankSettings
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.api import create_api as create_candystore_api
from candystore.api.stats import DEFAULT_WINDOW
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from candystore.store.migrate import upgrade
from candystore.store.queries import EVENT_PAGES
from candystore.store.stats import MAX_WINDOW
from gumdrop.access_control import Access
from gumdrop.settings import LOCAL_HOSTS
from holyfields import default_validator
from holyfields.timestamps import InvalidTimestamp, parse_timestamp
from tests.candystore.api_helpers import SOURCE
from tests.visibility.test_api import api_for, seed
from visibility.store import VisibilityStore

SEED = 33
MAX_EXAMPLES = 20

# The apps run open, on the Host name schemathesis calls them by ("testserver"): who may call which route is
# proven route by route in tests/test_access.py, so schemathesis' own authentication check is off.
_OPEN = Access.open(allowed_hosts=("testserver", *LOCAL_HOSTS))


def _cursors() -> st.SearchStrategy[str]:
    """Cursors as the stores issue them: the position (time and id) of a last item."""
    first, last = datetime(1970, 1, 2), datetime(9999, 12, 30)  # noqa: DTZ001 - Hypothesis takes naive bounds
    moments = st.datetimes(min_value=first, max_value=last, timezones=st.just(UTC))

    return st.builds(EVENT_PAGES.encode, moments, st.uuids())


schemathesis.openapi.format("x-cursor", _cursors())


def _agent_contexts() -> st.SearchStrategy[str]:
    """The ``agentcontext`` CloudEvents extension: an agent context (core/agent-context.v1) as JSON text."""
    names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=128)
    context = st.fixed_dictionaries(
        {"type": st.sampled_from(["claude", "letta", "custom"]), "name": names},
        optional={"instance_id": st.uuids().map(str), "mcp_servers": st.lists(names.filter(bool), max_size=3)},
    )
    return context.map(json.dumps)


schemathesis.openapi.format(AGENT_CONTEXT_FORMAT, _agent_contexts())


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "checks": {"enabled": True, "ignored_auth": {"enabled": False}},
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "allow-x00": False},
            "phases": {"stateful": {"max-steps": 20}},
            "operations": [
                {
                    "include-path": "/events/batch",
                    "include-method": "POST",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
            ],
        }
    )


def _failures(app: FastAPI, *hooks: Callable[..., Any]) -> list[str]:
    """Every check failure and error schemathesis finds in ``app`` (with ``hooks``), one line each."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    for hook in hooks:
        schema.hook(hook)
    found: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            for checks in event.recorder.checks.values():
                found += [
                    f"{event.recorder.label}: {check.name}: {check.failure_info.failure.title} "
                    f"{check.failure_info.code_sample}"
                    for check in checks
                    if check.status is Status.FAILURE and check.failure_info is not None
                ]
        elif isinstance(event, events.NonFatalError):
            found.append(f"error: {event.label}: {event.value}")
        elif isinstance(event, events.FatalError):
            found.append(f"error: {event.exception}")
    return sorted(set(found))


@pytest.fixture
def conformance() -> Iterator[Callable[[FastAPI], list[str]]]:
    """Runs schemathesis against an app; stops the apps' lifespans (started by schemathesis) afterwards."""
    yield _failures
    shutdown_lifespans()


def filter_query(ctx: HookContext, query: dict[str, Any] | None) -> bool:
    """``GET /stats`` takes a window of at most 31 days, since not after until: no schema can say that."""
    if ctx.operation is None or ctx.operation.path != "/stats" or not query:
        return True
    try:
        end = parse_timestamp(query["until"]) if "until" in query else datetime.now(UTC)
        start = parse_timestamp(query["since"]) if "since" in query else end - DEFAULT_WINDOW
    except (InvalidTimestamp, TypeError):
        return True  # a value the schema refuses: the API must refuse it too
    return timedelta(0) <= end - start <= MAX_WINDOW


def _with_lifespan(app: FastAPI, lifespan: Callable[[], Any]) -> FastAPI:
    app.router.lifespan_context = lambda _app: lifespan()
    return app


def test_the_gateway_answers_what_its_document_says(conformance, tmp_path: Path) -> None:
    """Schemathesis with every check finds nothing the gateway answers that its OpenAPI document does not say."""
    app = create_gateway(BloodbankSettings(data_dir=tmp_path, publish_timeout=2.0), access=_OPEN)
    failures = conformance(app)
    assert not failures, "\n".join(failures)


def test_candystore_answers_what_its_document_says(conformance, tmp_path: Path) -> None:
    """Schemathesis with every check finds nothing Candystore's API answers that its OpenAPI document does not say."""
    store = EventStore.open(f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}")
    bus = EmbeddedTransport(tmp_path / "bus.sqlite3")
    publisher = Publisher(bus, validator=default_validator(), source=SOURCE, publish_timeout=5)
    settings = CandystoreSettings(data_dir=tmp_path)
    app = create_candystore_api(
        store,
        settings=settings,
        hub=LiveHub(),
        registry=CollectorRegistry(),
        access=_OPEN,
        publisher=publisher,
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await upgrade(store.engine)
        await bus.connect()
        await bus.declare_topology()
        yield
        await bus.close()
        await store.close()

    failures = conformance(_with_lifespan(app, lifespan), filter_query)
    assert not failures, "\n".join(failures)


def test_the_visibility_api_answers_what_its_document_says(conformance, tmp_path: Path) -> None:
    """Schemathesis with every check finds nothing the visibility API answers that its OpenAPI document does not say."""
    store = VisibilityStore.open(f"sqlite+aiosqlite:///{tmp_path / 'visibility.sqlite3'}")

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await store.migrate()
        await seed(store)
        yield
        await store.close()

    failures = conformance(_with_lifespan(api_for(store, access=_OPEN), lifespan))
    assert not failures, "\n".join(failures)
