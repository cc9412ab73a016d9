"""Who may call what, on every service: a walk over each API's OpenAPI routes, the WebSocket, Host and Origin,
the audit actor, the security headers and the keys file.

The walk is the guard against a new route without a scope: every operation but the probes
must declare one, and must answer 401 without a key, 403 with a key lacking its scope and
neither with the right one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.websockets import WebSocketDisconnect

from bloodbank import BloodbankSettings
from bloodbank.gateway import create_gateway
from bloodbank.transport.embedded import EmbeddedTransport
from candybar import create_app as create_ui
from candybar.settings import CandybarSettings
from candystore.api import create_api as create_candystore_api
from candystore.live import LiveHub
from candystore.settings import CandystoreSettings
from candystore.store import EventStore
from candystore.store.dead_letters import DeadLetter
from candystore.store.migrate import upgrade
from gumdrop.access_control import Access
from gumdrop.principals import Client, KeyRing, KeysFileError, Scope, hash_key
from gumdrop.rate_limits import MemoryRateLimiter, Rate
from visibility.api import create_api as create_visibility_api
from visibility.lifecycle import Lifecycle
from visibility.metrics import VisibilityMetrics
from visibility.publishing import OutboxPublisher
from visibility.rules import load_rules
from visibility.settings import VisibilitySettings
from visibility.store import VisibilityStore

UI_ORIGIN = "http://127.0.0.1:8684"
KEYS = {scope: f"{scope.value}-key-{uuid.uuid4().hex}" for scope in Scope}
"""One key per scope, its client named after the scope."""
OPEN_OPERATIONS = frozenset({"checkLiveness", "checkReadiness", "receiveGithubWebhook", "receiveN8nWebhook"})
"""The probes, which orchestrators call without keys, and the webhook intakes, which their sender's signature
authenticates (docs/runbooks/webhooks.md)."""


def keyed_access(*, origins: tuple[str, ...] = (UI_ORIGIN,)) -> Access:
    ring = KeyRing.of((Client(scope.value, frozenset({scope})), [hash_key(KEYS[scope])]) for scope in Scope)
    return Access(
        ring,
        limiter=MemoryRateLimiter(),
        default_rate=Rate(10_000, 10_000),
        failure_rate=Rate(1, 10_000),
        origins=origins,
    )


def bearer(scope: Scope) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


class _Outbox:
    async def __call__(self, *_args: Any) -> None:
        return None


@asynccontextmanager
async def _connected(bus: EmbeddedTransport) -> AsyncIterator[None]:
    await bus.connect()
    await bus.declare_topology()
    yield
    await bus.close()


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[dict[str, FastAPI]]:
    """Candystore's and the visibility layer's APIs over migrated SQLite stores, both with keys."""
    store = EventStore.open(f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}")
    await upgrade(store.engine)
    visibility_store = VisibilityStore.open(f"sqlite+aiosqlite:///{tmp_path / 'visibility.sqlite3'}")
    await visibility_store.migrate()
    bus = EmbeddedTransport(":memory:")  # for GET /consumers; connected in the loop the app runs in
    rules = load_rules()
    lifecycle = Lifecycle(visibility_store, rules=rules, publisher=OutboxPublisher(visibility_store, _Outbox()))
    candystore = create_candystore_api(
        store,
        settings=CandystoreSettings(data_dir=tmp_path),
        hub=LiveHub(),
        registry=CollectorRegistry(),
        access=keyed_access(),
        transport=bus,
    )
    candystore.router.lifespan_context = lambda _app: _connected(bus)
    candystore.state.store = store  # for the tests that put a dead letter in it
    yield {
        "candystore": candystore,
        "visibility": create_visibility_api(
            visibility_store,
            settings=VisibilitySettings(data_dir=tmp_path),
            lifecycle=lifecycle,
            metrics=VisibilityMetrics(CollectorRegistry()),
            access=keyed_access(),
            rules=load_rules,
        ),
    }
    await store.close()
    await visibility_store.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    settings = BloodbankSettings(data_dir=tmp_path, publish_timeout=2)
    with TestClient(create_gateway(settings, access=keyed_access()), base_url="http://localhost") as client:
        yield client


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def scope_of(operation: dict[str, Any]) -> Scope | None:
    """The scope an operation declares in its OpenAPI ``security`` (the same for each scheme)."""
    declared = {
        scope for requirement in operation.get("security", []) for scopes in requirement.values() for scope in scopes
    }
    assert len(declared) <= 1, operation["operationId"]
    return Scope(declared.pop()) if declared else None


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def walk(call: Any, document: dict[str, Any]) -> int:
    """Check every operation of ``document`` through ``call(method, url, headers)``; how many were checked."""
    checked = 0
    for method, path, operation in operations(document):
        scope = scope_of(operation)
        name = operation["operationId"]
        if name in OPEN_OPERATIONS:
            assert scope is None, f"{name} should stay open for probes"
            continue
        assert scope is not None, f"{method} {path} ({name}) declares no scope: add requires(Scope…)"
        url = concrete(path)
        assert call(method, url, {}).status_code == 401, name
        assert call(method, url, {"X-API-Key": "not-a-key"}).status_code == 401, name
        others = [other for other in Scope if other not in {scope, Scope.ADMIN}]
        assert call(method, url, bearer(others[0])).status_code == 403, name
        for allowed in (scope, Scope.ADMIN):
            answer = call(method, url, bearer(allowed))
            assert answer.status_code not in {401, 403, 429}, (name, answer.text)
            assert answer.status_code < 500, (name, answer.text)
            if method == "GET" and "{" not in path:
                assert answer.is_success, (name, answer.text)
        checked += 1
    return checked


def test_every_gateway_route_needs_its_scope(gateway: TestClient) -> None:
    """Every route of the gateway but the probes answers 401, 403 or not, by the scope its OpenAPI declares."""
    document = gateway.get("/openapi.json").json()
    assert walk(lambda method, url, headers: gateway.request(method, url, headers=headers), document) >= 4
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "description": "An API key of a configured client",
        "in": "header",
        "name": "X-API-Key",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("service", ["candystore", "visibility"])
async def test_every_api_route_needs_its_scope(apps: dict[str, FastAPI], service: str) -> None:
    """Every route of Candystore and the visibility API but the probes is guarded by the scope it declares."""
    app = apps[service]
    with TestClient(app, base_url="http://localhost") as client:
        walked = walk(lambda method, url, headers: client.request(method, url, headers=headers), app.openapi())
    assert walked >= 4


def test_the_ui_server_guards_its_settings_and_metrics_but_not_its_page(tmp_path: Path) -> None:
    """Candybar's /config.json and /metrics need read; the page itself loads without a key (it asks for one)."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "index.html").write_text("<!doctype html><title>ui</title>")
    app = create_ui(CandybarSettings(bundle_dir=bundle), access=keyed_access())
    client = TestClient(app, base_url="http://localhost")
    for path in ("/config.json", "/metrics"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer(Scope.PUBLISH)).status_code == 403
        assert client.get(path, headers=bearer(Scope.READ)).status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_without_keys_everything_is_open_and_docs_are_served(tmp_path: Path) -> None:
    """With no key configured, routes answer without one, and the interactive docs are on."""
    settings = BloodbankSettings(data_dir=tmp_path)
    with TestClient(create_gateway(settings, access=Access.open()), base_url="http://localhost") as client:
        assert client.get("/schemas").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/docs").status_code == 200


def test_with_keys_the_docs_are_off_and_the_document_stays(gateway: TestClient) -> None:
    """With keys, /docs (scripts from a CDN) is off; /openapi.json still describes the API."""
    assert gateway.get("/docs").status_code == 404
    assert gateway.get("/openapi.json").status_code == 200


def test_the_docs_page_runs_only_its_own_inline_script(tmp_path: Path) -> None:
    """The docs' policy names the hash of its inline script and no 'unsafe-inline' script, and forbids framing."""
    with TestClient(
        create_gateway(BloodbankSettings(data_dir=tmp_path), access=Access.open()), base_url="http://localhost"
    ) as client:
        page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    script_sources = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'sha256-" in script_sources
    assert "unsafe" not in script_sources
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"


async def test_every_api_answer_carries_nosniff_and_a_strict_policy(apps: dict[str, FastAPI]) -> None:
    """JSON answers, errors and refusals included, say nosniff, no framing, and default-src 'none'."""
    for app in apps.values():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            for answer in (
                await client.get("/health/live"),
                await client.get("/nowhere"),
                await client.get("/metrics"),
            ):
                assert answer.headers["x-content-type-options"] == "nosniff"
                assert answer.headers["content-security-policy"].startswith("default-src 'none'")
                assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8683", "127.0.0.1.evil.example", "localhost.:8683"])
async def test_a_foreign_host_is_refused_but_the_probes_answer(apps: dict[str, FastAPI], host: str) -> None:
    """A request for a Host that is not one of the service's names (DNS rebinding) is a 400 naming the header."""
    for app in apps.values():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}") as client:
            refused = await client.get(
                "/events" if app.title == "Candystore" else "/conflicts", headers=bearer(Scope.READ)
            )
            assert refused.status_code == 400
            [error] = refused.json()["errors"]
            assert error["path"] == "header.Host"
            assert "PLATFORM_ALLOWED_HOSTS" in error["message"]
            assert (await client.get("/health/live")).status_code == 200


@pytest.mark.parametrize("host", ["localhost:8683", "127.0.0.1:8683", "[::1]:8683", "LOCALHOST"])
async def test_the_local_names_are_allowed(apps: dict[str, FastAPI], host: str) -> None:
    """The default names are this machine's, with or without a port."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps["candystore"]), base_url=f"http://{host}"
    ) as client:
        assert (await client.get("/events", headers=bearer(Scope.READ))).status_code == 200


def stream_close(client: TestClient, **options: Any) -> tuple[int, str]:
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("ws://localhost/events/stream", **options) as socket,
    ):
        socket.receive_text()
    return closed.value.code, closed.value.reason


async def test_the_live_stream_needs_read_and_a_known_origin(apps: dict[str, FastAPI]) -> None:
    """The stream refuses no key (4401), a key without read or a foreign page (4403); bearer.KEY lets a browser in."""
    with TestClient(apps["candystore"], base_url="http://localhost") as client:
        code, reason = stream_close(client)
        assert code == 4401
        assert "API key is required" in reason
        assert stream_close(client, subprotocols=["33god.v1", "bearer.wrong"])[0] == 4401
        assert stream_close(client, headers=bearer(Scope.PUBLISH))[0] == 4403
        foreign = stream_close(client, headers={**bearer(Scope.READ), "Origin": "https://evil.example"})
        assert foreign[0] == 4403
        assert "evil.example" in foreign[1]
        offered = ["33god.v1", f"bearer.{KEYS[Scope.READ]}"]
        with client.websocket_connect(
            "ws://localhost/events/stream", subprotocols=offered, headers={"Origin": UI_ORIGIN}
        ) as socket:
            assert socket.accepted_subprotocol == "33god.v1"  # the key is not echoed back


async def test_the_audit_actor_is_the_authenticated_client(apps: dict[str, FastAPI]) -> None:
    """A discard is recorded under the key's client; naming someone else is refused; leaving it out is fine."""
    app = apps["candystore"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        letter = await _a_dead_letter(app)
        url = f"/dlq/{letter}"
        impostor = await client.delete(url, params={"reason": "junk", "actor": "alice"}, headers=bearer(Scope.OPERATE))
        assert impostor.status_code == 422
        assert impostor.json()["errors"][0]["path"] == "query.actor"
        discarded = await client.delete(url, params={"reason": "junk"}, headers=bearer(Scope.OPERATE))
        assert discarded.status_code == 200, discarded.text
        assert discarded.json()["resolved_by"] == Scope.OPERATE.value


async def _a_dead_letter(app: FastAPI) -> str:
    """Keep one dead letter in the app's store and return its id."""
    store: EventStore = app.state.store
    await store.keep_dead_letters([_letter()])
    return str((await store.dead_letters(limit=1)).items[0].id)


def _letter() -> DeadLetter:
    from tests.candystore.test_api_dead_letters import dead_letter  # noqa: PLC0415

    return dead_letter(msgspec.json.encode({"not": "an event"}))


def test_keys_file_gives_clients_scopes_patterns_and_rates(tmp_path: Path) -> None:
    """A keys file is read into clients; a key is found by its hash, any other is not."""
    key = "a-long-random-key"
    path = tmp_path / "keys.yaml"
    path.write_text(
        "clients:\n"
        "  visibility:\n"
        "    scopes: [publish, read]\n"
        f"    keys: ['{hash_key('old-key')}', '{hash_key(key)}']\n"
        "    publish: ['visibility.#']\n"
        "    rate: {per_second: 5, burst: 10}\n"
    )
    ring = KeyRing.from_file(path)
    client = ring.authenticate(key)
    assert client is not None
    assert client.name == "visibility"
    assert client.allows(Scope.READ)
    assert not client.allows(Scope.OPERATE)
    assert client.publish_patterns == ("visibility.#",)
    assert client.rate == Rate(5, 10)
    assert ring.authenticate("old-key") is client
    assert ring.authenticate(key + "x") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clients: {}\n", "clients: Dictionary should have at least 1 item"),
        (
            "clients:\n  a:\n    scopes: [read]\n    keys: [plain-text-key]\n",
            "clients.a.keys.0: String should match pattern",
        ),
        ("clients:\n  a:\n    scopes: [root]\n    keys: []\n", "clients.a.scopes.0: Input should be"),
        ("clients: [", "is not YAML"),
    ],
)
def test_a_bad_keys_file_is_refused_naming_where(tmp_path: Path, text: str, message: str) -> None:
    """A keys file that cannot be used stops the service with the place of the problem."""
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(KeysFileError, match=re.escape(message)):
        KeyRing.from_file(path)


def test_quick_start_keys_are_client_key_pairs() -> None:
    """BLOODBANK_API_KEYS entries are client:key; an entry without a client is refused saying so."""
    ring = KeyRing.from_pairs(["ops:k1", "ops:k2", "ci:k3"])
    assert ring.authenticate("k2") is ring.clients["ops"]
    assert ring.clients["ci"].allows(Scope.OPERATE)
    with pytest.raises(KeysFileError, match="client:key pairs"):
        KeyRing.from_pairs(["just-a-key"])


def test_keys_new_prints_a_key_and_the_entry_with_its_hash() -> None:
    """`33god keys new` prints a key on stdout and, on stderr, the keys-file entry that authenticates it."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from stack.cli import app  # noqa: PLC0415

    result = CliRunner().invoke(app, ["keys", "new", "ops", "--scopes", "read,operate"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert f"keys: ['{hash_key(key)}']" in result.stderr
    assert "scopes: [read, operate]" in result.stderr
    refused = CliRunner().invoke(app, ["keys", "new", "ops", "--scopes", "root"])
    assert refused.exit_code == 1
