"""GitHub's webhook deliveries: their signature, their headers, and the event each becomes.

GitHub signs a delivery with the hook's secret: ``X-Hub-Signature-256: sha256=<hex>``, the
HMAC-SHA256 of the raw body. ``X-GitHub-Event`` names the event, the body's ``action`` what
happened, ``X-GitHub-Delivery`` is the delivery's id (the same when GitHub redelivers it).

An event and action of :data:`MAPPED` becomes its own ``github.*`` type, whose payload is the
projection the platform keeps of GitHub's body; any other is kept whole as
:data:`GENERIC_TYPE`. ``ping`` (sent when a hook is created) is not an event of the repository:
the routes answer it without publishing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bloodbank.envelope import timestamp_text
from bloodbank.gateway.errors import GatewayError
from bloodbank.gateway.intake import json_type
from bloodbank.gateway.webhooks.reading import BodyReader
from holyfields import InvalidEvent, ValidationIssue
from holyfields.timestamps import InvalidTimestamp, parse_timestamp

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "GENERIC_TYPE",
    "MAPPED",
    "PING",
    "SIGNATURE_HEADER",
    "GithubDelivery",
    "check_signature",
    "github_event",
    "signature_of",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
ENTERPRISE_HOST_HEADER = "X-GitHub-Enterprise-Host"
HOOK_ID_HEADER = "X-GitHub-Hook-ID"
PUBLIC_HOST = "github.com"
PING = "ping"
GENERIC_TYPE = "github.webhook.received.v1"

_EVENT_NAME = re.compile(r"[a-z_]{1,64}")
MAX_DELIVERY_ID = 128
_BRANCH, _TAG = "refs/heads/", "refs/tags/"

Projection = Callable[[BodyReader], dict[str, Any]]


def signature_of(headers: Mapping[str, str]) -> str:
    """The delivery's signature; a 401 when it has none."""
    header = headers.get(SIGNATURE_HEADER)
    if header is None:
        raise _refused(
            f"{SIGNATURE_HEADER} is missing: give the GitHub webhook the secret set in "
            "BLOODBANK_GITHUB_WEBHOOK_SECRET (the SHA-1 X-Hub-Signature alone is not accepted)"
        )
    return header


def check_signature(secret: str, body: bytes, header: str) -> None:
    """Nothing when ``header`` is GitHub's signature of ``body`` under ``secret``; else a 401 saying what is wrong."""
    scheme, equals, digest = header.partition("=")
    if scheme != "sha256" or not equals:
        raise _refused(f"expected 'sha256=' and the hex HMAC-SHA256 of the body, got {header[:16]!r}…")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    # Header values reach us decoded as Latin-1; comparing bytes keeps any value comparable in constant time.
    if not hmac.compare_digest(expected, digest.encode("latin-1")):
        raise _refused(
            "the signature does not match the body under BLOODBANK_GITHUB_WEBHOOK_SECRET: the hook's secret "
            "differs, or the body was changed on the way"
        )


def _refused(message: str) -> GatewayError:
    return GatewayError(401, [ValidationIssue(f"header.{SIGNATURE_HEADER}", message)])


@dataclass(frozen=True, slots=True)
class GithubDelivery:
    """What GitHub's headers say about one delivery."""

    event: str
    delivery_id: str
    host: str
    hook_id: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> GithubDelivery:
        """The delivery the headers describe; a 422 naming the header that is missing or malformed."""
        issues: list[ValidationIssue] = []
        event = headers.get(EVENT_HEADER, "")
        if not _EVENT_NAME.fullmatch(event):
            issues.append(
                ValidationIssue(
                    f"header.{EVENT_HEADER}",
                    "is required: GitHub's event name, e.g. 'pull_request'"
                    if not event
                    else f"expected GitHub's event name (lowercase letters and '_'), got {event[:70]!r}",
                )
            )
        delivery_id = headers.get(DELIVERY_HEADER, "")
        if not 0 < len(delivery_id) <= MAX_DELIVERY_ID:
            issues.append(
                ValidationIssue(
                    f"header.{DELIVERY_HEADER}",
                    "is required: GitHub's id of the delivery, which makes a redelivery publish nothing twice"
                    if not delivery_id
                    else f"is {len(delivery_id)} characters long; GitHub's have at most {MAX_DELIVERY_ID}",
                )
            )
        if issues:
            raise GatewayError(422, issues)
        return cls(
            event=event,
            delivery_id=delivery_id,
            host=headers.get(ENTERPRISE_HOST_HEADER) or PUBLIC_HOST,
            hook_id=headers.get(HOOK_ID_HEADER),
        )

    def source(self) -> dict[str, Any]:
        """The envelope's source: GitHub's host, and in ``meta`` what finds the delivery again in GitHub's log."""
        meta = {"delivery_id": self.delivery_id, "event": self.event}
        if self.hook_id is not None:
            meta["hook_id"] = self.hook_id
        return {"host": self.host, "type": "webhook", "app": "github", "meta": meta}


@dataclass(frozen=True, slots=True)
class GithubEvent:
    """The platform's event for one delivery: its type and payload."""

    event_type: str
    payload: dict[str, Any]


def github_event(event: str, document: object) -> GithubEvent:
    """The event a delivery of ``event`` with body ``document`` becomes.

    Raises :class:`~holyfields.InvalidEvent` when the body lacks what its type's projection reads,
    each problem at its path in GitHub's body.
    """
    if not isinstance(document, dict):
        raise InvalidEvent([ValidationIssue("$", f"expected an object (GitHub's delivery), got {json_type(document)}")])
    action = document.get("action")
    action = action if isinstance(action, str) else None
    mapped = MAPPED.get((event, action))
    if mapped is None:
        return GithubEvent(GENERIC_TYPE, _generic(event, action, document))
    event_type, project = mapped
    reader = BodyReader(document)
    payload = project(reader)
    reader.raise_issues()
    return GithubEvent(event_type, payload)


def _generic(event: str, action: str | None, document: dict[str, Any]) -> dict[str, Any]:
    repository = document.get("repository")
    sender = document.get("sender")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    login = sender.get("login") if isinstance(sender, dict) else None
    return {
        "event": event,
        "action": action,
        "repository": full_name if isinstance(full_name, str) else None,
        "sender": login if isinstance(login, str) else None,
        "payload": document,
    }


# --- The projections: what the platform keeps of GitHub's body, per type -------------------------


def _pull_request(body: BodyReader) -> dict[str, Any]:
    """The fields every pull request type has."""
    return {
        "repository": body.text("repository", "full_name"),
        "number": body.integer("pull_request", "number"),
        "title": body.text("pull_request", "title"),
        "author": body.text("pull_request", "user", "login"),
        "head_branch": body.text("pull_request", "head", "ref"),
        "base_branch": body.text("pull_request", "base", "ref"),
    }


def _pr_opened(body: BodyReader) -> dict[str, Any]:
    return {
        **_pull_request(body),
        "body": body.optional_text("pull_request", "body"),
        "head_sha": body.text("pull_request", "head", "sha"),
        "draft": body.flag("pull_request", "draft"),
        **_size(body),
        "url": body.text("pull_request", "html_url"),
        "opened_at": body.text("pull_request", "created_at"),
    }


def _pr_closed(body: BodyReader) -> dict[str, Any]:
    merged = body.flag("pull_request", "merged")
    # Before a merge, GitHub's merge_commit_sha is its test merge: not a commit of the base branch.
    merge_commit = body.optional_text("pull_request", "merge_commit_sha") if merged else None
    return {
        **_pull_request(body),
        "head_sha": body.text("pull_request", "head", "sha"),
        "merged": merged,
        "merged_at": body.optional_text("pull_request", "merged_at"),
        "merge_commit_sha": merge_commit,
        "closed_by": body.text("sender", "login"),
        "labels": _each(body, "name", "pull_request", "labels"),
        **_size(body),
        "url": body.text("pull_request", "html_url"),
        "opened_at": body.text("pull_request", "created_at"),
        "closed_at": body.text("pull_request", "closed_at"),
    }


def _pr_synchronized(body: BodyReader) -> dict[str, Any]:
    return {
        **_pull_request(body),
        "before_sha": body.text("before"),
        "head_sha": body.text("after"),
        "pushed_by": body.text("sender", "login"),
        "commits": body.integer("pull_request", "commits"),
        "url": body.text("pull_request", "html_url"),
        "synchronized_at": body.text("pull_request", "updated_at"),
    }


def _size(body: BodyReader) -> dict[str, Any]:
    return {
        "additions": body.integer("pull_request", "additions"),
        "deletions": body.integer("pull_request", "deletions"),
        "changed_files": body.integer("pull_request", "changed_files"),
    }


def _each(body: BodyReader, field: str, *path: str) -> list[str]:
    """The string ``field`` of each object in the array at ``path`` (the ``name`` of each label…)."""
    return [body.text(*path, index, field) for index in range(len(body.items(*path)))]


def _pushed(body: BodyReader) -> dict[str, Any]:
    ref = body.text("ref")
    if ref.startswith(_BRANCH):
        ref_type, ref_name = "branch", ref.removeprefix(_BRANCH)
    elif ref.startswith(_TAG):
        ref_type, ref_name = "tag", ref.removeprefix(_TAG)
    else:
        ref_type, ref_name = "other", ref
    return {
        "repository": body.text("repository", "full_name"),
        "ref": ref,
        "ref_type": ref_type,
        "ref_name": ref_name,
        "before": body.text("before"),
        "after": body.text("after"),
        "created": body.flag("created"),
        "deleted": body.flag("deleted"),
        "forced": body.flag("forced"),
        "base_ref": body.optional_text("base_ref"),
        "pusher": body.text("sender", "login"),
        "commits": [_commit(body, index) for index in range(len(body.items("commits")))],
        "compare_url": body.text("compare"),
        "pushed_at": _pushed_at(body),
    }


def _commit(body: BodyReader, index: int) -> dict[str, Any]:
    at = ("commits", index)
    return {
        "sha": body.text(*at, "id"),
        "message": body.text(*at, "message"),
        "author_name": body.text(*at, "author", "name"),
        "author_login": body.optional_text(*at, "author", "username"),
        "timestamp": body.text(*at, "timestamp"),
        "url": body.text(*at, "url"),
        "added": body.texts(*at, "added"),
        "removed": body.texts(*at, "removed"),
        "modified": body.texts(*at, "modified"),
    }


def _pushed_at(body: BodyReader) -> str:
    """A push delivery gives ``repository.pushed_at`` in seconds since 1970 (other deliveries as a timestamp)."""
    seconds = body.integer("repository", "pushed_at")
    try:
        return timestamp_text(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        body.note(("repository", "pushed_at"), f"{seconds} is not a time GitHub could have received a push")
        return ""


def _workflow_completed(body: BodyReader) -> dict[str, Any]:
    run = "workflow_run"
    # A run of a workflow file without a `name:` has an empty name; its workflow's name, or its path, stands in.
    name = body.optional_text(run, "name") or body.optional_text("workflow", "name") or body.text(run, "path")
    started_at = body.text(run, "run_started_at")
    completed_at = body.text(run, "updated_at")
    pull_requests = body.items(run, "pull_requests")
    return {
        "repository": body.text("repository", "full_name"),
        "workflow_name": name,
        "run_id": body.integer(run, "id"),
        "run_attempt": body.integer(run, "run_attempt"),
        "event": body.text(run, "event"),
        "head_sha": body.text(run, "head_sha"),
        "head_branch": body.optional_text(run, "head_branch"),
        "conclusion": body.text(run, "conclusion"),
        "started_at": started_at,
        "completed_at": completed_at,
        "duration_seconds": _seconds_between(started_at, completed_at),
        "pull_request_number": body.integer(run, "pull_requests", 0, "number") if pull_requests else None,
        "url": body.text(run, "html_url"),
    }


def _seconds_between(start: str, end: str) -> float:
    """Seconds from ``start`` to ``end``; 0 if end is first, or if either is not a timestamp (the schema says which)."""
    try:
        return max((parse_timestamp(end) - parse_timestamp(start)).total_seconds(), 0.0)
    except InvalidTimestamp:
        return 0.0


def _check_suite_completed(body: BodyReader) -> dict[str, Any]:
    suite = "check_suite"
    pull_requests = body.items(suite, "pull_requests")
    return {
        "repository": body.text("repository", "full_name"),
        "suite_id": body.integer(suite, "id"),
        "app": body.optional_text(suite, "app", "slug") or body.text(suite, "app", "name"),
        "head_sha": body.text(suite, "head_sha"),
        "head_branch": body.optional_text(suite, "head_branch"),
        "conclusion": body.optional_text(suite, "conclusion"),
        "pull_request_numbers": [
            body.integer(suite, "pull_requests", index, "number") for index in range(len(pull_requests))
        ],
        "check_runs": body.integer(suite, "latest_check_runs_count"),
        "created_at": body.text(suite, "created_at"),
        "completed_at": body.text(suite, "updated_at"),
        "url": body.text(suite, "url"),
    }


def _issue_created(body: BodyReader) -> dict[str, Any]:
    return {
        "repository": body.text("repository", "full_name"),
        "number": body.integer("issue", "number"),
        "title": body.text("issue", "title"),
        "body": body.optional_text("issue", "body"),
        "author": body.text("issue", "user", "login"),
        "labels": _each(body, "name", "issue", "labels"),
        "assignees": _each(body, "login", "issue", "assignees"),
        "url": body.text("issue", "html_url"),
        "created_at": body.text("issue", "created_at"),
    }


MAPPED: Mapping[tuple[str, str | None], tuple[str, Projection]] = {
    ("pull_request", "opened"): ("github.pr.opened.v1", _pr_opened),
    ("pull_request", "closed"): ("github.pr.closed.v1", _pr_closed),
    ("pull_request", "synchronize"): ("github.pr.synchronized.v1", _pr_synchronized),
    ("push", None): ("github.ref.pushed.v1", _pushed),
    ("workflow_run", "completed"): ("github.workflow.completed.v1", _workflow_completed),
    ("check_suite", "completed"): ("github.check_suite.completed.v1", _check_suite_completed),
    ("issues", "opened"): ("github.issue.created.v1", _issue_created),
}
"""GitHub event and action (None: the event has no action) → the event type and its projection."""
