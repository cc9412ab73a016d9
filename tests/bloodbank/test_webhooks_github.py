"""``POST /webhooks/github`` with GitHub's own deliveries (tests/fixtures/webhooks/github, from octokit/webhooks):
each becomes its ``github.*`` type or the generic one, signatures are checked as GitHub documents them, a
redelivery publishes nothing twice, and a ping is answered without publishing."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bloodbank.gateway.errors import GatewayError
from bloodbank.gateway.webhooks.github import GENERIC_TYPE, check_signature, github_event
from bloodbank.gateway.webhooks.routes import WEBHOOK_NAMESPACE
from holyfields import InvalidEvent
from tests.bloodbank.test_gateway import depth, started
from tests.bloodbank.test_webhooks import (
    GITHUB_SECRET,
    WRONG_SECRET,
    counted,
    errors_of,
    gateway,
    github_headers,
    published,
    sample,
)

SIGNATURE = "header.X-Hub-Signature-256"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A started gateway with the GitHub intake on and a queue bound to every event type."""
    with started(gateway(tmp_path, n8n_secret=None)) as started_gateway:
        yield started_gateway


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(sample(f"github/{name}"))
    return loaded


def test_the_signature_of_github_s_documentation_verifies() -> None:
    """GitHub's published example (secret, body, X-Hub-Signature-256) passes; one changed byte does not."""
    example = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    check_signature(GITHUB_SECRET, b"Hello, World!", example)
    with pytest.raises(GatewayError):
        check_signature(GITHUB_SECRET, b"Hello, World?", example)


MAPPED = [
    ("pull_request.opened.json", "github.pr.opened.v1"),
    ("pull_request.opened.with-null-body.json", "github.pr.opened.v1"),
    ("pull_request.closed.json", "github.pr.closed.v1"),
    ("pull_request.synchronize.json", "github.pr.synchronized.v1"),
    ("push.tag-deleted.json", "github.ref.pushed.v1"),
    ("push.with-new-branch.json", "github.ref.pushed.v1"),
    ("push.with-no-username-committer.json", "github.ref.pushed.v1"),
    ("workflow_run.completed.json", "github.workflow.completed.v1"),
    ("workflow_run.completed.with-pull-requests.json", "github.workflow.completed.v1"),
    ("check_suite.completed.json", "github.check_suite.completed.v1"),
    ("check_suite.completed.1.json", "github.check_suite.completed.v1"),
    ("issues.opened.json", "github.issue.created.v1"),
    ("issues.opened.with-empty-body.json", "github.issue.created.v1"),
    ("issues.labeled.json", GENERIC_TYPE),
    ("workflow_run.requested.json", GENERIC_TYPE),
    ("star.created.json", GENERIC_TYPE),
    ("release.published.json", GENERIC_TYPE),
]


@pytest.mark.parametrize(("name", "event_type"), MAPPED, ids=[name for name, _ in MAPPED])
def test_each_delivery_is_published_as_its_type(client: TestClient, name: str, event_type: str) -> None:
    """A real delivery is answered 202 with its event id; on the bus it is its type, valid, a root event from GitHub."""
    body = sample(f"github/{name}")
    event = name.split(".", maxsplit=1)[0]
    delivery = str(uuid.uuid4())
    response = client.post("/webhooks/github", content=body, headers=github_headers(body, event, delivery=delivery))
    assert response.status_code == 202, response.text
    [envelope] = published(client)
    assert response.json() == {"event_id": envelope["event_id"]}
    assert envelope["event_id"] == str(uuid.uuid5(WEBHOOK_NAMESPACE, f"github\n{delivery}"))
    assert envelope["event_type"] == event_type
    assert envelope["source"] == {
        "host": "github.com",
        "type": "webhook",
        "app": "github",
        "meta": {"delivery_id": delivery, "event": event, "hook_id": "292430182"},
    }
    assert envelope["correlation_ids"] == []
    assert counted(client, "github", "accepted") == 1


def test_a_pull_request_keeps_what_reviewers_and_ci_need() -> None:
    """Opened: title, people, branches, head commit, size, link and time, exactly as GitHub sent them."""
    pull = document("pull_request.opened.json")["pull_request"]
    event = github_event("pull_request", document("pull_request.opened.json"))
    assert event.payload == {
        "repository": "Codertocat/Hello-World",
        "number": 2,
        "title": pull["title"],
        "body": pull["body"],
        "author": "Codertocat",
        "head_branch": "changes",
        "base_branch": "master",
        "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        "draft": False,
        "additions": 1,
        "deletions": 1,
        "changed_files": 1,
        "url": "https://github.com/Codertocat/Hello-World/pull/2",
        "opened_at": "2019-05-15T15:20:33Z",
    }
    assert github_event("pull_request", document("pull_request.opened.with-null-body.json")).payload["body"] is None


def test_a_pull_request_closed_unmerged_has_no_merge_commit() -> None:
    """GitHub's merge_commit_sha before a merge is a test merge, not kept; who closed it and its labels are."""
    body = document("pull_request.closed.json")
    assert body["pull_request"]["merge_commit_sha"] is not None
    payload = github_event("pull_request", body).payload
    assert {key: payload[key] for key in ("merged", "merged_at", "merge_commit_sha", "closed_by", "labels")} == {
        "merged": False,
        "merged_at": None,
        "merge_commit_sha": None,
        "closed_by": "Codertocat",
        "labels": ["bug"],
    }
    merged = {**body, "pull_request": {**body["pull_request"], "merged": True, "merged_at": "2019-05-15T15:21:18Z"}}
    assert github_event("pull_request", merged).payload["merge_commit_sha"] == body["pull_request"]["merge_commit_sha"]


def test_a_synchronized_pull_request_says_where_its_head_moved() -> None:
    payload = github_event("pull_request", document("pull_request.synchronize.json")).payload
    assert (payload["before_sha"], payload["head_sha"], payload["pushed_by"]) == (
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        "Codertocat",
    )


def test_a_push_names_its_ref_and_keeps_its_commits() -> None:
    """A new branch with its commit; a deleted tag with none; a commit author without a GitHub login."""
    created = github_event("push", document("push.with-new-branch.json")).payload
    assert (created["ref_type"], created["ref_name"], created["created"], created["deleted"]) == (
        "branch",
        "master",
        True,
        False,
    )
    assert created["pushed_at"] == "2019-05-15T15:20:57Z"  # GitHub's seconds since 1970
    assert created["commits"] == [
        {
            "sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "message": "Initial commit",
            "author_name": "Codertocat",
            "author_login": "Codertocat",
            "timestamp": "2019-05-15T15:19:25Z",
            "url": "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "added": ["README.md"],
            "removed": [],
            "modified": [],
        }
    ]
    deleted = github_event("push", document("push.tag-deleted.json")).payload
    assert (deleted["ref_type"], deleted["ref_name"], deleted["deleted"], deleted["commits"]) == (
        "tag",
        "simple-tag",
        True,
        [],
    )


def test_a_workflow_run_without_a_name_takes_its_workflow_s() -> None:
    """GitHub sends an empty run name for a workflow file without `name:`; the pull request comes from the run."""
    plain = github_event("workflow_run", document("workflow_run.completed.json")).payload
    assert (plain["workflow_name"], plain["conclusion"], plain["pull_request_number"]) == ("test", "success", None)
    assert plain["duration_seconds"] == 0  # GitHub's run_started_at and updated_at are the same second here
    with_pull = github_event("workflow_run", document("workflow_run.completed.with-pull-requests.json")).payload
    assert with_pull["pull_request_number"] == 2


def test_a_check_suite_names_its_app_by_slug_or_name() -> None:
    linter = github_event("check_suite", document("check_suite.completed.json")).payload
    assert (linter["app"], linter["pull_request_numbers"], linter["check_runs"]) == ("octocoders-linter", [2], 1)
    actions = github_event("check_suite", document("check_suite.completed.1.json")).payload
    assert (actions["app"], actions["pull_request_numbers"]) == ("github-actions", [])


def test_an_event_without_a_type_of_its_own_is_kept_whole() -> None:
    """A star, or an issue being labeled, is the generic type: event, action, repository, sender, and the body."""
    body = document("issues.labeled.json")
    assert github_event("issues", body).payload == {
        "event": "issues",
        "action": "labeled",
        "repository": "Codertocat/Hello-World",
        "sender": "Codertocat",
        "payload": body,
    }
    assert github_event("star", document("star.created.json")).payload["payload"] == document("star.created.json")


def test_a_mapped_delivery_without_what_its_type_needs_names_every_missing_field() -> None:
    """Each problem at its path in GitHub's body, all at once."""
    with pytest.raises(InvalidEvent) as caught:
        github_event("issues", {"action": "opened", "issue": {"number": "1", "labels": [{"name": 7}]}})
    assert [(issue.path, issue.message) for issue in caught.value.issues] == [
        ("$.repository.full_name", "is required: expected a string"),
        ("$.issue.number", "expected an integer, got string"),
        ("$.issue.title", "is required: expected a string"),
        ("$.issue.user.login", "is required: expected a string"),
        ("$.issue.labels[0].name", "expected a string, got integer"),
        ("$.issue.assignees", "is required: expected an array"),
        ("$.issue.html_url", "is required: expected a string"),
        ("$.issue.created_at", "is required: expected a string"),
    ]


def test_a_delivery_its_type_refuses_is_a_422_at_the_payload_path(client: TestClient) -> None:
    """A value the payload schema refuses (a head that is no commit SHA) is answered 422 and not published."""
    body = document("pull_request.opened.json")
    body["pull_request"]["head"]["sha"] = "not-a-sha"
    raw = json.dumps(body).encode()
    response = client.post("/webhooks/github", content=raw, headers=github_headers(raw, "pull_request"))
    assert response.status_code == 422
    assert [path for path, _ in errors_of(response)] == ["$.payload.head_sha"]
    assert depth(client) == 0
    assert counted(client, "github", "invalid") == 1


def test_a_redelivery_is_answered_the_same_and_published_once(client: TestClient) -> None:
    """The same X-GitHub-Delivery twice: the same 202 and event id, one event on the bus."""
    body = sample("github/workflow_run.completed.json")
    headers = github_headers(body, "workflow_run")
    first = client.post("/webhooks/github", content=body, headers=headers)
    again = client.post("/webhooks/github", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert depth(client) == 1
    assert (counted(client, "github", "accepted"), counted(client, "github", "duplicate")) == (1, 1)


def test_a_ping_is_answered_and_not_published(client: TestClient) -> None:
    """GitHub's ping on hook creation: 200 with its zen once the signature verified; nothing on the bus."""
    body = sample("github/ping.json")
    response = client.post("/webhooks/github", content=body, headers=github_headers(body, "ping"))
    assert response.status_code == 200
    assert response.json() == {"zen": "Anything added dilutes everything else.", "hook_id": 109948940}
    assert depth(client) == 0
    assert counted(client, "github", "ping") == 1
    forged = client.post("/webhooks/github", content=body, headers=github_headers(body, "ping", secret=WRONG_SECRET))
    assert forged.status_code == 401


BODY = sample("github/issues.opened.json")
_SHA1 = hmac.new(GITHUB_SECRET.encode(), BODY, hashlib.sha1).hexdigest()
MISSING = (
    "X-Hub-Signature-256 is missing: give the GitHub webhook the secret set in "
    "BLOODBANK_GITHUB_WEBHOOK_SECRET (the SHA-1 X-Hub-Signature alone is not accepted)"
)
MISMATCH = (
    "the signature does not match the body under BLOODBANK_GITHUB_WEBHOOK_SECRET: the hook's secret "
    "differs, or the body was changed on the way"
)


@pytest.mark.parametrize(
    ("body", "signature", "message"),
    [
        (BODY, None, MISSING),
        (BODY, github_headers(BODY, "issues", secret=WRONG_SECRET)["X-Hub-Signature-256"], MISMATCH),
        (BODY.replace(b'"opened"', b'"closed"', 1), github_headers(BODY, "issues")["X-Hub-Signature-256"], MISMATCH),
        (
            BODY,
            f"sha1={_SHA1}",
            f"expected 'sha256=' and the hex HMAC-SHA256 of the body, got {f'sha1={_SHA1}'[:16]!r}…",
        ),
    ],
    ids=["missing", "wrong-secret", "tampered-body", "wrong-prefix"],
)
def test_a_bad_signature_is_a_401_saying_what_is_wrong(
    client: TestClient, body: bytes, signature: str | None, message: str
) -> None:
    """Missing, under another secret, over another body, or another scheme: 401 at the header, nothing published."""
    headers = github_headers(body, "issues")
    del headers["X-Hub-Signature-256"]
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 401
    assert errors_of(response) == [(SIGNATURE, message)]
    assert depth(client) == 0
    assert counted(client, "github", "unauthorized") == 1


def test_the_event_and_delivery_headers_are_required(client: TestClient) -> None:
    """Without X-GitHub-Event and X-GitHub-Delivery (the idempotency key) a signed delivery is a 422 naming both."""
    headers = github_headers(BODY, "issues")
    del headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]
    response = client.post("/webhooks/github", content=BODY, headers=headers)
    assert response.status_code == 422
    assert errors_of(response) == [
        ("header.X-GitHub-Event", "is required: GitHub's event name, e.g. 'pull_request'"),
        (
            "header.X-GitHub-Delivery",
            "is required: GitHub's id of the delivery, which makes a redelivery publish nothing twice",
        ),
    ]


def test_a_body_that_is_not_json_is_a_422_and_a_form_post_a_415(client: TestClient) -> None:
    """A signed body that is not JSON is refused at its path; GitHub's form content type is refused before that."""
    response = client.post("/webhooks/github", content=b"{", headers=github_headers(b"{", "issues"))
    assert response.status_code == 422
    [(path, _)] = errors_of(response)
    assert path == "$"
    form = b"payload=%7B%7D"
    headers = {**github_headers(form, "issues"), "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/webhooks/github", content=form, headers=headers).status_code == 415


def test_github_enterprise_is_the_source_host(client: TestClient) -> None:
    """A delivery from GitHub Enterprise Server names its host."""
    headers = {**github_headers(BODY, "issues"), "X-GitHub-Enterprise-Host": "ghe.example.com"}
    assert client.post("/webhooks/github", content=BODY, headers=headers).status_code == 202
    [envelope] = published(client)
    assert envelope["source"]["host"] == "ghe.example.com"
