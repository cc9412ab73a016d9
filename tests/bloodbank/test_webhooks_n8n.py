"""``POST /webhooks/n8n``: workflow notifications signed the Standard Webhooks way become ``n8n.workflow.*`` events,
whether they carry n8n's execution from its API or the Error Trigger's; a retry with the same ``webhook-id`` is
answered as the first and publishes nothing; a bad signature is a 401 at the header that is wrong."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bloodbank.gateway.webhooks.n8n import n8n_event
from bloodbank.gateway.webhooks.routes import WEBHOOK_NAMESPACE
from holyfields import InvalidEvent
from tests.bloodbank.test_gateway import depth, started
from tests.bloodbank.test_webhooks import (
    counted,
    errors_of,
    gateway,
    n8n_headers,
    published,
    sample,
)

PARENT = "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b"
UNSIGNED = (
    "n8n's notifications are signed the Standard Webhooks way: send webhook-id, webhook-timestamp, webhook-signature"
)
MISMATCH = (
    "the signature does not match the body under any of the client's secrets "
    "(sign `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256)"
)
NOT_STOPPED = (
    "expected the status of an execution that stopped (success, error, crashed, canceled, waiting), "
    "got 'running': notify workflow.started for one that is running"
)
NO_COUNT = (
    "is required: the number of nodes that ran (or n8n's execution data, data.resultData.runData, "
    "as the n8n node's 'Get execution' returns it)"
)
OTHER_SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGhlLXNlY29uZC1jbGllbnQ="  # noqa: S105 - not the gateway's


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started gateway with the n8n intake on and a queue bound to every event type."""
    with started(gateway(tmp_path, github_secret=None)) as started_gateway:
        yield started_gateway


def notification(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sample(f"n8n/{name}"))
    return loaded


def test_a_started_workflow_is_published_with_its_input_and_parents(client: TestClient) -> None:
    """workflow.started: the event names the platform events that caused the run as its parents."""
    body = sample("n8n/workflow.started.json")
    headers = n8n_headers(body, webhook_id="msg_2ZQ1xJcQ1rM0b7NFGtV4bd1yqZb")
    response = client.post("/webhooks/n8n", content=body, headers=headers)
    assert response.status_code == 202, response.text
    [envelope] = published(client)
    assert response.json() == {"event_id": envelope["event_id"]}
    assert envelope["event_id"] == str(uuid.uuid5(WEBHOOK_NAMESPACE, "n8n\nmsg_2ZQ1xJcQ1rM0b7NFGtV4bd1yqZb"))
    assert envelope["event_type"] == "n8n.workflow.started.v1"
    assert envelope["correlation_ids"] == [PARENT]
    assert envelope["source"] == {
        "host": "testclient",
        "type": "webhook",
        "app": "n8n",
        "meta": {"webhook_id": "msg_2ZQ1xJcQ1rM0b7NFGtV4bd1yqZb"},
    }
    assert envelope["payload"] == {
        "workflow_id": "Rk3zR5ZlU6cXbd7q",
        "workflow_name": "Transcript to TheBoard",
        "execution_id": "48213",
        "mode": "webhook",
        "retry_of": None,
        "started_at": "2026-11-02T14:03:28.104Z",
        "input": {"transcript_id": "tr_01JBX7Z5K3", "title": "Weekly platform sync"},
    }


@pytest.mark.parametrize(
    "name",
    [
        "workflow.completed.success.json",
        "workflow.completed.error.json",
        "workflow.completed.error-trigger.json",
    ],
)
def test_a_completed_workflow_is_published_as_n8n_workflow_completed(client: TestClient, name: str) -> None:
    """An execution as n8n's API returns it, or the Error Trigger's, becomes a valid n8n.workflow.completed.v1."""
    body = sample(f"n8n/{name}")
    response = client.post("/webhooks/n8n", content=body, headers=n8n_headers(body))
    assert response.status_code == 202, response.text
    [envelope] = published(client)
    assert (envelope["event_type"], envelope["correlation_ids"]) == ("n8n.workflow.completed.v1", [])
    assert counted(client, "n8n", "accepted") == 1


def test_n8n_s_execution_data_gives_the_counts_and_the_error() -> None:
    """Nodes run are counted from runData; the error and its node come from resultData; ids may be numbers."""
    succeeded = n8n_event(notification("workflow.completed.success.json")).payload
    assert succeeded == {
        "workflow_id": "Rk3zR5ZlU6cXbd7q",
        "workflow_name": "Transcript to TheBoard",
        "execution_id": "48213",
        "status": "success",
        "started_at": "2026-11-02T14:03:28.104Z",
        "finished_at": "2026-11-02T14:03:31.977Z",
        "duration_ms": 3873,
        "nodes_executed": 3,
        "error_message": None,
        "error_node": None,
        "output": {"meeting_id": "0193a6b0-1f2e-7d3c-9a4b-5c6d7e8f9a0b"},
    }
    failed = n8n_event(notification("workflow.completed.error.json")).payload
    assert (failed["status"], failed["nodes_executed"], failed["error_node"], failed["output"]) == (
        "error",
        2,
        "Fetch dead letters",
        {},
    )
    assert failed["error_message"] == "Request to http://candystore:8683/dlq timed out after 30000 ms"
    from_trigger = n8n_event(notification("workflow.completed.error-trigger.json")).payload
    assert (from_trigger["error_message"], from_trigger["error_node"]) == ("Example Error Message", "Node With Error")


@pytest.mark.parametrize(("sent", "kept"), [("canceled", "cancelled"), ("crashed", "error"), ("waiting", "waiting")])
def test_n8n_s_statuses_are_the_payload_s(sent: str, kept: str) -> None:
    body = notification("workflow.completed.success.json")
    body["execution"]["status"] = sent
    assert n8n_event(body).payload["status"] == kept


def test_a_notification_that_cannot_be_its_event_names_every_problem() -> None:
    """An unknown event is refused alone; a running execution, a missing count and a bad parent list all at once."""
    with pytest.raises(InvalidEvent) as unknown:
        n8n_event({"event": "workflow.paused"})
    assert [(i.path, i.message) for i in unknown.value.issues] == [
        ("$.event", "expected 'workflow.started' or 'workflow.completed', got 'workflow.paused'")
    ]
    body = notification("workflow.completed.error-trigger.json")
    body["execution"]["status"] = "running"
    del body["execution"]["nodesExecuted"]
    body["correlation_ids"] = [7]
    with pytest.raises(InvalidEvent) as running:
        n8n_event(body)
    assert [(i.path, i.message) for i in running.value.issues] == [
        ("$.execution.status", NOT_STOPPED),
        ("$.execution.nodesExecuted", NO_COUNT),
        ("$.correlation_ids[0]", "expected a string, got integer"),
    ]


def test_a_refused_notification_is_a_422_and_not_published(client: TestClient) -> None:
    """A parent that is no event id breaks the envelope: 422 at its path, nothing on the bus."""
    body = json.dumps({**notification("workflow.started.json"), "correlation_ids": ["not-an-id"]}).encode()
    response = client.post("/webhooks/n8n", content=body, headers=n8n_headers(body))
    assert response.status_code == 422
    assert [path for path, _ in errors_of(response)] == ["$.correlation_ids[0]"]
    assert depth(client) == 0


def test_a_retry_is_answered_as_the_first_and_published_once(client: TestClient) -> None:
    """n8n's retry sends the same request: the same 202 and event id, not a replay refusal, and one event."""
    body = sample("n8n/workflow.completed.success.json")
    headers = n8n_headers(body)
    answers = [client.post("/webhooks/n8n", content=body, headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert answers[1].json() == answers[2].json() == answers[0].json()
    assert depth(client) == 1
    assert (counted(client, "n8n", "accepted"), counted(client, "n8n", "duplicate")) == (1, 2)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda body, _: (body, {"Content-Type": "application/json"}), "header.webhook-id", UNSIGNED),
        (lambda body, _: (body, n8n_headers(body, secret=OTHER_SECRET)), "header.webhook-signature", MISMATCH),
        (lambda body, headers: (body.replace(b"48213", b"48214"), headers), "header.webhook-signature", MISMATCH),
        (
            lambda body, _: (body, n8n_headers(body, at=time.time() - 3600)),
            "header.webhook-timestamp",
            re.compile(r"the timestamp is 360[01] s behind the gateway's clock; at most 300 s are allowed"),
        ),
        (
            lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-id"}),
            "header.webhook-id",
            "a signed notification needs webhook-id, webhook-timestamp, webhook-signature; webhook-id is missing",
        ),
    ],
    ids=["unsigned", "other-secret", "tampered-body", "stale", "no-id"],
)
def test_a_bad_signature_is_a_401_at_the_header_that_is_wrong(
    client: TestClient, change: Any, path: str, message: str | re.Pattern[str]
) -> None:
    """Unsigned, another secret, a changed body, an old timestamp, no id: 401 saying so, nothing published."""
    original = sample("n8n/workflow.started.json")
    body, headers = change(original, n8n_headers(original))
    response = client.post("/webhooks/n8n", content=body, headers=headers)
    assert response.status_code == 401
    [(refused_at, said)] = errors_of(response)
    assert refused_at == path
    assert message.fullmatch(said) if isinstance(message, re.Pattern) else said == message
    assert depth(client) == 0
    assert counted(client, "n8n", "unauthorized") == 1
