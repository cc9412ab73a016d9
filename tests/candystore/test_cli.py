"""`candystore migrate / trace / purge / replay / dlq …` from the shell's point of view (SQLite, embedded bus)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from bloodbank import BloodbankSettings, build_envelope
from bloodbank.topology import STORE_QUEUE, Headers
from bloodbank.transport.embedded import EmbeddedTransport
from candystore.cli import app
from candystore.store import DeadLetter, EventStore
from candystore.store.migrate import upgrade
from holyfields import default_catalog

runner = CliRunner()
SOURCE = {"host": "box", "type": "system", "app": "cli-test"}


def example(event_type: str) -> dict[str, Any]:
    return next(s.examples[0] for s in default_catalog().payload_schemas() if str(s.event_type) == event_type)


def invoke(tmp_path: Path, *args: str, env: dict[str, str | None] | None = None) -> Any:
    environment: dict[str, str | None] = {
        "CANDYSTORE_DATA_DIR": str(tmp_path),
        "CANDYSTORE_DATABASE_URL": None,
        "BLOODBANK_DATA_DIR": str(tmp_path),
        "BLOODBANK_BROKER_URL": None,
        "BLOODBANK_REDIS_URL": None,
        **(env or {}),
    }
    return runner.invoke(app, list(args), env=environment)


def store_in(tmp_path: Path) -> EventStore:
    return EventStore.open(f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}")


@pytest.fixture
def chain(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """A migrated store holding created → started → brainstorm (two parents) and an old retail offer."""
    created = build_envelope("theboard.meeting.created.v1", example("theboard.meeting.created.v1"), source=SOURCE)
    started = build_envelope(
        "theboard.meeting.started.v1",
        example("theboard.meeting.started.v1"),
        source=SOURCE,
        correlation_ids=[created["event_id"]],
    )
    brainstorm = build_envelope(
        "theboard.brainstorm.completed.v1",
        example("theboard.brainstorm.completed.v1"),
        source=SOURCE,
        correlation_ids=[created["event_id"], started["event_id"]],
        agent_context={"type": "claude", "name": "facilitator"},
    )
    old_offer = build_envelope(
        "retail.offer.surfaced.v1",
        example("retail.offer.surfaced.v1"),
        source=SOURCE,
        timestamp=datetime.now(UTC) - timedelta(days=30),
    )

    async def fill() -> None:
        store = store_in(tmp_path)
        await upgrade(store.engine)
        await store.store_batch([created, started, brainstorm, old_offer])
        await store.close()

    asyncio.run(fill())
    return {"created": created, "started": started, "brainstorm": brainstorm, "old_offer": old_offer}


def test_migrate_brings_a_new_database_to_head(tmp_path: Path) -> None:
    result = invoke(tmp_path, "migrate")
    assert result.exit_code == 0, result.output
    assert "is at revision 0005" in result.stdout


def test_migrate_refuses_a_password_in_clear_text_in_one_line(tmp_path: Path) -> None:
    """A URL that would send a password unencrypted to another host: exit 1, the setting named, no traceback."""
    url = "postgresql+asyncpg://owner:hunter2@db.example.com/events"
    result = invoke(tmp_path, "migrate", env={"CANDYSTORE_DATABASE_URL": url, "CANDYSTORE_CLEARTEXT_CREDENTIALS": None})
    assert result.exit_code == 1, result.output
    assert "CANDYSTORE_CLEARTEXT_CREDENTIALS=true" in result.stderr
    assert "Traceback" not in result.output
    assert "hunter2" not in result.output


def test_trace_prints_the_chain_as_a_tree(tmp_path: Path, chain: dict[str, dict[str, Any]]) -> None:
    """The tree starts at the root, marks the event asked for, and names the two parents of the brainstorm."""
    started = chain["started"]["event_id"]
    result = invoke(tmp_path, "trace", started)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "3 events, 3 links" in lines[0]
    assert "theboard.meeting.created.v1" in lines[1]
    assert f"▶ theboard.meeting.started.v1  {started}" in result.stdout
    assert "theboard.brainstorm.completed.v1" in result.stdout
    assert "agent facilitator" in result.stdout
    assert "2 parents" in result.stdout
    assert "(shown above)" in result.stdout  # the brainstorm sits under both of its parents


def test_trace_json_and_the_errors(tmp_path: Path, chain: dict[str, dict[str, Any]]) -> None:
    as_json = invoke(tmp_path, "trace", chain["brainstorm"]["event_id"], "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert len(document["nodes"]) == 3
    assert len(document["edges"]) == 3
    assert document["truncated"] is False
    unknown = invoke(tmp_path, "trace", "01a22c09-3ac3-71f1-a6fe-f71e9e4ca10e")
    assert unknown.exit_code == 1
    assert "no event 01a22c09-3ac3-71f1-a6fe-f71e9e4ca10e is stored" in unknown.stderr
    malformed = invoke(tmp_path, "trace", "not-an-id")
    assert malformed.exit_code == 1
    assert "'not-an-id' is not an event id (a UUID)" in malformed.stderr


@pytest.mark.usefixtures("chain")
def test_purge_applies_the_retention_of_each_pattern(tmp_path: Path) -> None:
    """The 30-day-old retail offer goes (retail.# keeps 7 days); the theboard events stay."""
    result = invoke(tmp_path, "purge")
    assert result.exit_code == 0, result.output
    assert "retail.offer.surfaced.v1: 1 deleted" in result.stdout
    assert "retention retail.#: 7 days" in result.stderr
    again = invoke(tmp_path, "purge")
    assert "nothing to delete" in again.stdout


@pytest.mark.usefixtures("chain")
def test_replay_republishes_matching_events_to_the_bus(tmp_path: Path) -> None:
    """Events whose type matches the pattern are replayed; a bad time or pattern exits 1 saying why."""
    result = invoke(tmp_path, "replay", "--type", "theboard.#")
    assert result.exit_code == 0, result.output
    assert "3 events replayed" in result.stdout
    bad = invoke(tmp_path, "replay", "--since", "yesterday")
    assert bad.exit_code == 1
    assert "--since: 'yesterday' is not" in bad.stderr
    naive = invoke(tmp_path, "replay", "--since", "2026-11-30T10:00:00")
    assert naive.exit_code == 1
    assert "--since: '2026-11-30T10:00:00' is not" in naive.stderr
    extreme = invoke(tmp_path, "replay", "--until", "0001-01-01T00:00:00+14:00")
    assert extreme.exit_code == 1
    assert "--until: '0001-01-01T00:00:00+14:00' is" in extreme.stderr


@pytest.mark.parametrize("command", [("replay",), ("dlq", "list"), ("dlq", "replay")])
def test_a_malformed_type_pattern_exits_1_with_the_reason(tmp_path: Path, command: tuple[str, ...]) -> None:
    """replay --type and the dlq filters refuse a malformed pattern before touching the store or the bus."""
    result = invoke(tmp_path, *command, "--type", "theboard*")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "--type: 'theboard*' is not a valid event-type pattern: the word 'theboard*' mixes a wildcard with other "
        "characters: a wildcard is a word of its own, e.g. 'retail.*.surfaced.v1' or 'retail.#'"
    )


def test_a_malformed_retention_pattern_fails_at_start_naming_it(tmp_path: Path) -> None:
    """A malformed pattern in CANDYSTORE_RETENTION_DAYS stops the command with exit 1 and the pattern named."""
    result = invoke(tmp_path, "purge", env={"CANDYSTORE_RETENTION_DAYS": '{"n8n.*x": 3}'})
    assert result.exit_code == 1
    assert "invalid setting CANDYSTORE_RETENTION_DAYS" in result.stderr
    assert "'n8n.*x' is not a valid event-type pattern" in result.stderr


def _keep_letters(tmp_path: Path, bodies: list[bytes]) -> list[str]:
    async def keep() -> list[str]:
        store = store_in(tmp_path)
        await upgrade(store.engine)
        letters = [
            DeadLetter(
                body=body,
                routing_key="dlq.pricing.checker",
                headers={Headers.CONSUMER: "pricing.checker", "n": index},
                consumer="pricing.checker",
                event_type="retail.offer.surfaced.v1",
                error="RuntimeError: price service down",
                attempts=4,
            )
            for index, body in enumerate(bodies)
        ]
        await store.keep_dead_letters(letters)
        page = await store.dead_letters()
        await store.close()
        return [letter.id for letter in page.items]

    return asyncio.run(keep())


def test_dlq_list_replay_and_discard(tmp_path: Path) -> None:
    """Letters are listed with why they failed; one replays (resolved), one is discarded with a reason, once."""
    offer = build_envelope("retail.offer.surfaced.v1", example("retail.offer.surfaced.v1"), source=SOURCE)
    first, second = _keep_letters(tmp_path, [msgspec.json.encode(offer), b"{not json"])
    listed = invoke(tmp_path, "dlq", "list")
    assert listed.exit_code == 0, listed.output
    assert "RuntimeError: price service down" in listed.stdout
    assert "pricing.checker" in listed.stdout

    ids = {first, second}
    replayed = invoke(tmp_path, "dlq", "replay", *sorted(ids), "--actor", "ops")
    assert replayed.exit_code == 1  # one of the two is not an event: said, and the exit code tells
    assert "1 of 2 replayed" in replayed.stdout
    assert ": invalid" in replayed.stdout
    open_ones = invoke(tmp_path, "dlq", "list", "--state", "open")
    (still_open,) = [letter for letter in ids if letter in open_ones.stdout]

    no_reason = invoke(tmp_path, "dlq", "discard", still_open, "--reason", " ")
    assert no_reason.exit_code == 1
    discarded = invoke(tmp_path, "dlq", "discard", still_open, "--reason", "malformed by a test client")
    assert discarded.exit_code == 0, discarded.output
    twice = invoke(tmp_path, "dlq", "discard", still_open, "--reason", "again")
    assert twice.exit_code == 1
    assert "discarded" in twice.stderr
    assert invoke(tmp_path, "dlq", "list", "--state", "open").stdout.strip() == "no dead letters match"
    assert invoke(tmp_path, "dlq", "replay").exit_code == 1  # neither ids nor a filter


def test_replayed_dead_letter_reaches_the_bus_marked_as_a_replay(tmp_path: Path) -> None:
    """A replayed letter is published marked as a replay, and waits in the store's queue (shared topology)."""
    offer = build_envelope("retail.offer.surfaced.v1", example("retail.offer.surfaced.v1"), source=SOURCE)
    (letter,) = _keep_letters(tmp_path, [msgspec.json.encode(offer)])
    assert invoke(tmp_path, "dlq", "replay", letter).exit_code == 0

    async def waiting_for_the_store() -> list[tuple[bytes, dict[str, Any]]]:
        transport = EmbeddedTransport(BloodbankSettings(data_dir=tmp_path).embedded_path)
        await transport.connect()
        got: list[tuple[bytes, dict[str, Any]]] = []

        async def keep(delivery: Any) -> None:
            got.append((delivery.body, dict(delivery.headers)))
            await delivery.ack()

        subscription = await transport.consume_queue(STORE_QUEUE.name, keep, prefetch=10)
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.05)
        await subscription.stop()
        await transport.close()
        return got

    ((body, headers),) = asyncio.run(waiting_for_the_store())
    assert msgspec.json.decode(body)["event_id"] == offer["event_id"]
    assert headers[Headers.REPLAY]
