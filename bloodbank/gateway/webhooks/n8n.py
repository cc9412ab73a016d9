"""n8n's workflow notifications: how they are signed, what their body says, and the ``n8n.*`` event each becomes.

n8n has no signature of its own. A workflow signs its notification the Standard Webhooks way
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the secret set in
``BLOODBANK_N8N_WEBHOOK_SECRET``, and the gateway checks it as it checks any signed request
(:mod:`bloodbank.gateway.signatures`). The ``webhook-id`` is the notification's idempotency
key: n8n's retries send the same one, and are answered as the first delivery was.

The body names its ``event`` and describes the workflow and the execution with n8n's own field
names, so that what n8n hands a workflow passes through as it is: the ``execution`` of the Error
Trigger's output, or an execution as n8n's API (and its n8n node, "Get execution") returns it::

    {
      "event": "workflow.completed",              # or "workflow.started"
      "workflow": {"id": "Rk3zR5ZlU6cXbd7q", "name": "Transcript to TheBoard"},
      "execution": {
        "id": "48213",                             # n8n's API writes ids as numbers too
        "mode": "webhook",                         # started: n8n's execution mode
        "retryOf": null,                           # started: the execution this one retries
        "status": "success",                       # completed: success, error, crashed, canceled, waiting
        "startedAt": "2026-11-02T14:03:28.104Z",
        "stoppedAt": "2026-11-02T14:03:31.977Z",   # completed
        "nodesExecuted": 6,                        # completed; or data.resultData.runData, counted
        "error": {"message": "…", "node": {"name": "…"}},   # completed with an error; or data.resultData.error
        "lastNodeExecuted": "Post to TheBoard"
      },
      "data": {…},                                 # started: the trigger's input; completed: the output
      "correlation_ids": ["0193a5f2-…"]            # optional: the platform events that caused this run
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bloodbank.gateway.errors import GatewayError
from bloodbank.gateway.intake import json_type
from bloodbank.gateway.signatures import SIGNATURE_HEADERS, RequestSignatures
from bloodbank.gateway.webhooks.reading import BodyReader
from gumdrop.principals import Client
from holyfields import InvalidEvent, ValidationIssue
from holyfields.timestamps import InvalidTimestamp, parse_timestamp

__all__ = ["EVENTS", "N8nEvent", "N8nSignatures", "n8n_event", "signature_headers_present"]

STARTED, COMPLETED = "workflow.started", "workflow.completed"
EVENTS: Mapping[str, str] = {STARTED: "n8n.workflow.started.v1", COMPLETED: "n8n.workflow.completed.v1"}
"""The ``event`` of a notification → the event type it is published as."""

_STATUSES = {"success": "success", "error": "error", "crashed": "error", "canceled": "cancelled", "waiting": "waiting"}
"""n8n's status of an execution that stopped running → the payload's."""
MAX_WEBHOOK_ID = 256


def signature_headers_present(headers: Mapping[str, str]) -> None:
    """A 401 naming the Standard Webhooks header a notification lacks: told even while the intake is off."""
    missing = [name for name in SIGNATURE_HEADERS if name not in headers]
    if missing:
        every = ", ".join(SIGNATURE_HEADERS)
        message = (
            f"n8n's notifications are signed the Standard Webhooks way: send {every}"
            if len(missing) == len(SIGNATURE_HEADERS)
            else f"a signed notification needs {every}; {missing[0]} is missing"
        )
        raise GatewayError.at(401, f"header.{missing[0]}", message)


class N8nSignatures(RequestSignatures):
    """The gateway's Standard Webhooks check (headers, timestamp, signature) of n8n's notifications.

    Unlike a signed publish request, a ``webhook-id`` seen before is not refused as a replay: it is
    n8n retrying, and the intake answers it from its idempotency record. A captured request sent
    again within the timestamp's tolerance therefore publishes nothing.
    """

    def __init__(self, secret: str) -> None:
        super().__init__(refuse_replays=False)
        self.client = Client("n8n", frozenset(), webhook_secrets=(secret,), require_signature=True)

    async def verify(self, body: bytes, headers: Mapping[str, str]) -> str:
        """The ``webhook-id`` of a well-signed notification; a 401 saying what is wrong otherwise."""
        await self.check(self.client, body, headers)
        webhook_id = headers["webhook-id"]
        if len(webhook_id) > MAX_WEBHOOK_ID:
            raise GatewayError.at(
                422, "header.webhook-id", f"is {len(webhook_id)} characters long; at most {MAX_WEBHOOK_ID} are kept"
            )
        return webhook_id


@dataclass(frozen=True, slots=True)
class N8nEvent:
    """The platform's event for one notification: its type, payload and parents."""

    event_type: str
    payload: dict[str, Any]
    correlation_ids: list[str]


def n8n_event(document: object) -> N8nEvent:
    """The event a notification becomes; :class:`~holyfields.InvalidEvent` with every problem, at its path, if none."""
    if not isinstance(document, dict):
        raise InvalidEvent(
            [ValidationIssue("$", f"expected an object (n8n's notification), got {json_type(document)}")]
        )
    body = BodyReader(document)
    event = body.text("event")
    if event not in EVENTS:
        if event:
            body.note(("event",), f"expected {' or '.join(map(repr, EVENTS))}, got {event[:70]!r}")
        body.raise_issues()  # what else the body needs depends on its event
    payload = _started(body) if event == STARTED else _completed(body)
    correlation_ids = body.texts("correlation_ids") if body.present("correlation_ids") else []
    body.raise_issues()
    return N8nEvent(EVENTS[event], payload, correlation_ids)


def _workflow(body: BodyReader) -> dict[str, Any]:
    return {
        "workflow_id": body.identifier("workflow", "id"),
        "workflow_name": body.text("workflow", "name"),
        "execution_id": body.identifier("execution", "id"),
    }


def _started(body: BodyReader) -> dict[str, Any]:
    return {
        **_workflow(body),
        "mode": body.text("execution", "mode"),
        "retry_of": body.optional_identifier("execution", "retryOf"),
        "started_at": body.text("execution", "startedAt"),
        "input": body.optional_mapping("data") or {},
    }


def _completed(body: BodyReader) -> dict[str, Any]:
    started_at = body.text("execution", "startedAt")
    finished_at = body.text("execution", "stoppedAt")
    status = _status(body)
    failed = status == "error"
    return {
        **_workflow(body),
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_ms": _milliseconds_between(started_at, finished_at),
        "nodes_executed": _nodes_executed(body),
        "error_message": _error(body, "message") if failed else None,
        "error_node": (_error(body, "node", "name") or _last_node(body)) if failed else None,
        "output": body.optional_mapping("data") or {},
    }


def _status(body: BodyReader) -> str:
    status = body.text("execution", "status")
    if status and status not in _STATUSES:
        body.note(
            ("execution", "status"),
            f"expected the status of an execution that stopped ({', '.join(_STATUSES)}), got {status[:40]!r}: "
            "notify workflow.started for one that is running",
        )
    return _STATUSES.get(status, status)


def _nodes_executed(body: BodyReader) -> int:
    """``execution.nodesExecuted``, or the nodes in n8n's execution data (one entry per node that ran)."""
    if body.present("execution", "nodesExecuted"):
        return body.integer("execution", "nodesExecuted")
    if body.present("execution", "data", "resultData", "runData"):
        return len(body.mapping("execution", "data", "resultData", "runData"))
    body.note(
        ("execution", "nodesExecuted"),
        "is required: the number of nodes that ran (or n8n's execution data, data.resultData.runData, "
        "as the n8n node's 'Get execution' returns it)",
    )
    return 0


def _error(body: BodyReader, *path: str) -> str | None:
    """A field of the execution's error: the Error Trigger's ``execution.error``, or n8n's execution data."""
    return body.optional_text("execution", "error", *path) or body.optional_text(
        "execution", "data", "resultData", "error", *path
    )


def _last_node(body: BodyReader) -> str | None:
    return body.optional_text("execution", "lastNodeExecuted") or body.optional_text(
        "execution", "data", "resultData", "lastNodeExecuted"
    )


def _milliseconds_between(start: str, end: str) -> int:
    """Whole milliseconds from ``start`` to ``end``; 0 if either is not a timestamp (the schema says which)."""
    try:
        return max(round((parse_timestamp(end) - parse_timestamp(start)).total_seconds() * 1000), 0)
    except InvalidTimestamp:
        return 0
