"""The visibility store on SQLite and PostgreSQL: conflicts, occurrences, memory, counters, lifecycle, outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from holyfields import default_validator
from visibility.domain.detection import DetectionEngine, Finding
from visibility.domain.publications import DETECTED, ESCALATED, RESOLVED
from visibility.domain.state import DetectorState
from visibility.domain.transitions import Action, ReasonRequired, TransitionRefused
from visibility.rules import load_rules
from visibility.store import ConflictFilter, InvalidCursor
from visibility.store.detections import DetectionWrite, conflict_id_for
from visibility.store.migrate import current_revision, downgrade

from .retail import at, check, offer, placement, snapshot

RULES = load_rules()
STEPS = {rule.id: rule.escalation for rule in RULES.rules}


def write_of(
    engine: DetectionEngine, findings: list[Finding], *, seconds: float = 1.0, alerting: bool = False
) -> DetectionWrite:
    return DetectionWrite(
        findings=findings,
        changes=engine.state.take_changes(),
        counts=engine.take_counts(),
        detected_at=at(seconds),
        first_escalation=lambda rule: RULES.rule(rule).escalation[0].after,
        alerting=alerting,
    )


def inventory_conflict(engine: DetectionEngine, *, seconds: float = 0.0, team: str = "magic-apron") -> list[Finding]:
    """A snapshot with 0 on hand and an in-stock offer: one inventory contradiction."""
    check(engine, snapshot(seconds=seconds, items={"p1": (0, 10.0)}))
    return check(engine, offer(team, availability="in_stock", seconds=seconds + 1))


async def test_migrations_create_and_remove_the_tables(database):
    """The tables have their own version table, upgrade to head and downgrade to nothing."""
    store = database.store()
    try:
        await store.migrate()
        assert await current_revision(store.engine) == "0002"
        await store.migrate()  # idempotent
        await downgrade(store.engine, "base")
        assert await current_revision(store.engine) is None
    finally:
        await store.close()


async def test_a_finding_opens_a_conflict_published_with_its_causes(store):
    """The first finding opens a conflict with a stable id and a valid detected event naming its sources."""
    engine = DetectionEngine(RULES)
    [finding] = inventory_conflict(engine)
    result = await store.write_detections(write_of(engine, [finding], seconds=2))
    [conflict] = result.opened
    assert conflict.conflict_id == conflict_id_for(finding)
    assert conflict.status == "open"
    assert conflict.occurrence_count == 1
    assert conflict.time_to_detect == pytest.approx(1.0)
    assert conflict.next_escalation_at == at(2) + timedelta(hours=24)
    [event] = result.events
    assert event.event_type == DETECTED
    assert set(event.correlation_ids) == set(finding.source_event_ids)
    envelope = {
        "event_id": event.event_id,
        "event_type": DETECTED,
        "timestamp": "2026-11-02T19:00:02Z",
        "version": "1.0.0",
        "source": {"host": "h", "type": "system", "app": "visibility"},
        "correlation_ids": list(event.correlation_ids),
        "payload": event.payload,
    }
    assert default_validator().validate(envelope) == []
    stored = await store.conflict(conflict.conflict_id)
    assert stored is not None
    assert stored.detected_event_id == uuid.UUID(event.event_id)
    assert [e.event_id for e in await store.unpublished()] == [event.event_id]


async def test_occurrences_update_an_open_conflict_and_repeats_are_absorbed(store):
    """A new occurrence counts once; the same sources again (a redelivery) change nothing."""
    engine = DetectionEngine(RULES)
    [first] = inventory_conflict(engine)
    await store.write_detections(write_of(engine, [first]))
    [second] = check(engine, snapshot(seconds=300, items={"p1": (0, 10.0)}))
    result = await store.write_detections(write_of(engine, [second, second], seconds=301))
    assert (result.opened, result.updated, result.repeated) == ([], 1, 1)
    conflict = await store.conflict(conflict_id_for(first))
    assert conflict is not None
    assert conflict.occurrence_count == 2
    assert conflict.last_occurred_at == at(300)
    assert set(conflict.source_event_ids) == set(first.source_event_ids) | set(second.source_event_ids)
    assert conflict.details == second.details
    again = await store.write_detections(write_of(engine, [first], seconds=302))  # the opening, redelivered
    assert (again.opened, again.updated, again.repeated) == ([], 1, 0)


async def test_after_resolution_a_new_occurrence_opens_a_new_conflict(store):
    """A resolved conflict stays resolved; the next occurrence opens another id; the opening again does not."""
    engine = DetectionEngine(RULES)
    [first] = inventory_conflict(engine)
    [opened] = (await store.write_detections(write_of(engine, [first]))).opened
    await store.act(opened.conflict_id, Action.ACKNOWLEDGE, actor="mika", note=None, at=at(10))
    await store.act(opened.conflict_id, Action.FIX, actor="mika", note="cache fixed", at=at(20))
    assert (await store.write_detections(write_of(engine, [first]))).repeated == 1
    [later] = check(engine, snapshot(seconds=300, items={"p1": (0, 10.0)}))
    [reopened] = (await store.write_detections(write_of(engine, [later], seconds=301))).opened
    assert reopened.conflict_id != opened.conflict_id
    page = await store.conflicts(ConflictFilter(rule="inventory_contradiction"))
    assert [(c.conflict_id, c.status) for c in page.items] == [
        (reopened.conflict_id, "open"),
        (opened.conflict_id, "fixed"),
    ]


async def test_the_memory_is_persisted_with_the_conflicts_and_loaded_back(store):
    """Observations and truths written in the transaction come back as they were; forgotten ones go."""
    engine = DetectionEngine(RULES)
    inventory_conflict(engine)
    check(engine, offer("sponsored", product="p2", price=3.5, quantity=2, seconds=5))
    check(engine, placement("sponsored", seconds=6))
    await store.write_detections(write_of(engine, []))
    held = await store.load_memory()
    teams = sorted((s.view, s.team, s.key) for s in held if s.team is not None)
    assert teams == [
        ("offer:product_id,store_id", "magic-apron", ("p1", "s1")),
        ("offer:product_id,store_id", "sponsored", ("p2", "s1")),
        ("placement:page,slot,channel,store_id", "sponsored", ("home", "hero", "web", "s1")),
    ]
    restored = DetectorState()
    restored.restore(held)
    assert restored.teams == engine.state.teams
    assert restored.truths == engine.state.truths
    assert [(s.key, s.observation.values["on_hand"]) for s in held if s.team is None] == [(("p1", "s1"), 0)]
    engine.state.forget_before("offer:product_id,store_id", at(3).timestamp())
    await store.write_detections(write_of(engine, []))
    held = await store.load_memory()
    assert sorted((s.view, s.team) for s in held if s.team is not None) == [
        ("offer:product_id,store_id", "sponsored"),
        ("placement:page,slot,channel,store_id", "sponsored"),
    ]


async def test_counters_sum_per_minute(store):
    """Events, conflicting events, openings and unverifiable checks are counted."""
    engine = DetectionEngine(RULES)
    findings = inventory_conflict(engine)
    check(engine, offer("sponsored", product="p9", seconds=2))  # no truth for p9
    await store.write_detections(write_of(engine, findings))
    counts = await store.counts(since=at(0))
    assert counts == {
        "events": 3,
        "conflicting": 1,
        "opened:inventory_contradiction": 1,
        "unverifiable:price_mismatch": 1,
        "unverifiable:inventory_contradiction": 1,
    }


async def test_lifecycle_transitions_and_refusals(store):
    """Acknowledge then dispute with a reason; every other move is refused saying why, and actions are kept."""
    engine = DetectionEngine(RULES)
    [conflict] = (await store.write_detections(write_of(engine, inventory_conflict(engine)))).opened
    cid = conflict.conflict_id
    with pytest.raises(TransitionRefused, match="is open: acknowledge it before you fix it"):
        await store.act(cid, Action.FIX, actor="a", note=None, at=at(5))
    applied = await store.act(cid, Action.ACKNOWLEDGE, actor="ana", note="looking", at=at(5))
    assert applied is not None
    assert applied.event is None
    with pytest.raises(TransitionRefused, match="already acknowledged since 2026-11-02T19:00:05Z"):
        await store.act(cid, Action.ACKNOWLEDGE, actor="b", note=None, at=at(6))
    with pytest.raises(ReasonRequired, match="a reason is required to dispute"):
        await store.act(cid, Action.DISPUTE, actor="b", note="  ", at=at(6))
    done = await store.act(cid, Action.DISPUTE, actor="ben", note="the snapshot was late", at=at(7))
    assert done is not None
    assert done.conflict.status == "disputed"
    assert done.event is not None
    assert done.event.event_type == RESOLVED
    assert done.event.payload["resolution"] == "disputed"
    assert done.event.payload["time_to_resolve_seconds"] == 6.0
    assert done.event.correlation_ids == (str(conflict.detected_event_id),)
    with pytest.raises(TransitionRefused, match=r"already resolved \(disputed since"):
        await store.act(cid, Action.ACCEPT, actor="c", note="fine", at=at(8))
    final = await store.conflict(cid)
    assert final is not None
    assert [(a.action, a.actor, a.note, a.status_after) for a in final.actions] == [
        ("acknowledge", "ana", "looking", "acknowledged"),
        ("dispute", "ben", "the snapshot was late", "disputed"),
    ]
    assert final.next_escalation_at is None
    assert await store.act(uuid.uuid4(), Action.ACKNOWLEDGE, actor="a", note=None, at=at(9)) is None


async def test_escalation_steps_fall_due_in_turn_and_catch_up(store):
    """Past its deadline a conflict goes to the decision authority, then (48 h later) to the executive."""
    engine = DetectionEngine(RULES)
    [conflict] = (await store.write_detections(write_of(engine, inventory_conflict(engine)))).opened
    assert await store.escalate_due(now=at(3600), steps=STEPS.get) == []
    [first] = await store.escalate_due(now=at(1) + timedelta(hours=24), steps=STEPS.get)
    assert (first.conflict.escalation_level, first.conflict.escalated_to) == ("decision_authority", "delivery")
    assert first.event is not None
    assert first.event.event_type == ESCALATED
    assert first.event.payload["reason"] == "Unresolved 24 h after detection."
    assert first.conflict.next_escalation_at == at(1) + timedelta(hours=72)
    late = at(1) + timedelta(hours=100)
    [second] = await store.escalate_due(now=late, steps=STEPS.get)
    assert (second.conflict.escalation_level, second.conflict.escalated_to) == ("executive", "evp-digital")
    assert second.event is not None
    assert second.event.payload["reason"] == "Unresolved 48 h after escalation to delivery."
    assert second.conflict.next_escalation_at is None
    assert await store.escalate_due(now=late + timedelta(days=30), steps=STEPS.get) == []
    escalated = await store.conflicts(ConflictFilter(status="escalated"))
    assert [c.conflict_id for c in escalated.items] == [conflict.conflict_id]


async def test_filters_and_pages(store):
    """Status, rule, team and time filters; pages stay stable through the cursor; a bad cursor is refused."""
    engine = DetectionEngine(RULES)
    for index, team in enumerate(["magic-apron", "sponsored", "recs-search"]):
        check(engine, snapshot(store=f"s{index}", seconds=index, items={"p1": (0, 10.0)}))
        findings = check(engine, offer(team, store=f"s{index}", availability="in_stock", seconds=index + 1))
        await store.write_detections(write_of(engine, findings, seconds=10 + index))
    first = await store.conflicts(limit=2)
    assert [c.store_id for c in first.items] == ["s2", "s1"]
    assert first.next_cursor is not None
    rest = await store.conflicts(limit=2, cursor=first.next_cursor)
    assert [c.store_id for c in rest.items] == ["s0"]
    assert rest.next_cursor is None
    assert [c.teams for c in (await store.conflicts(ConflictFilter(team="sponsored"))).items] == [("sponsored",)]
    assert (await store.conflicts(ConflictFilter(team="sponsor"))).items == []
    assert len((await store.conflicts(ConflictFilter(since=at(11)))).items) == 2
    assert len((await store.conflicts(ConflictFilter(status="unresolved"))).items) == 3
    assert (await store.conflicts(ConflictFilter(status="resolved"))).items == []
    with pytest.raises(InvalidCursor):
        await store.conflicts(cursor="nonsense")


async def test_outbox_marks_published_and_failures(store):
    """Published events leave the outbox; a failure counts an attempt and keeps the event."""
    engine = DetectionEngine(RULES)
    await store.write_detections(write_of(engine, inventory_conflict(engine)))
    check(engine, snapshot(store="s2", items={"p1": (0, 10.0)}))
    await store.write_detections(write_of(engine, check(engine, offer(store="s2", availability="limited"))))
    first, second = await store.unpublished()
    await store.mark_publish_failed(first.event_id, error="BrokerUnavailable: down")
    await store.mark_published([second.event_id], at=at(9))
    assert [e.event_id for e in await store.unpublished()] == [first.event_id]
