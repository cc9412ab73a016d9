"""``POST /events`` and ``POST /events/batch``: accept events over HTTP, answer only after the broker's confirm.

The body is read as bytes and decoded once by msgspec (integers of any size stay exact);
there is no pydantic model for the envelope, and the publisher validates each event in one
pass. Both routes hand their events to :meth:`~bloodbank.publisher.Publisher.publish_many`
(which splits them into windows) and turn its outcomes, one per event, into the answer in
one place, :func:`answer`. A 202 (or an ``accepted`` item) means the broker confirmed the
event durably.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bloodbank import cloudevents as ce
from bloodbank.errors import BrokerUnavailable
from bloodbank.gateway.errors import ERROR_RESPONSES, ErrorItem, GatewayError, issues_as_json, json_response
from bloodbank.gateway.intake import Intake, batch_items, json_type
from bloodbank.gateway.state import GatewayState
from bloodbank.openapi import CLOUD_EVENT, EVENT, reference
from bloodbank.publisher import PublishOutcome, PublishStatus
from gumdrop.access_control import requires
from gumdrop.principals import Client, Scope
from gumdrop.strict_json import InvalidJson, decode_json
from holyfields import InvalidEvent, ValidationIssue
from holyfields.wildcards import TypePattern

__all__ = ["answer", "event_routes"]

log = structlog.get_logger(__name__)

_LEGACY_PARAMETER: dict[str, Any] = {
    "name": "legacy",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean"},
    "description": "Legacy envelopes are upgraded when the gateway's switch BLOODBANK_ACCEPT_LEGACY is on; "
    "`true` asks for it explicitly (422 when the switch is off), `false` refuses them for this request.",
}
_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off"))


class EventAccepted(BaseModel):
    """The broker confirmed the event: it is durable."""

    event_id: str = Field(examples=["0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b"])


class BatchItemResult(BaseModel):
    """What became of one event of a batch (``index`` is its position in the request)."""

    index: int
    status: Literal["accepted", "rejected", "failed"] = Field(
        description="accepted: confirmed by the broker; rejected: invalid, do not retry as is; "
        "failed: not confirmed (the broker refused it or became unreachable), retry it"
    )
    event_id: str | None = None
    errors: list[ErrorItem] | None = None


class BatchResults(BaseModel):
    """One result per event, in the order of the request."""

    results: list[BatchItemResult]


_EVENT_SCHEMA = reference(EVENT)
_BATCH_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": _EVENT_SCHEMA},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["events"],
            "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA}},
        },
    ]
}


_CLOUDEVENT_SCHEMA = reference(CLOUD_EVENT)


def _documented(body: dict[str, Any], cloudevents: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """The request body and the ``legacy`` flag, read by hand (no per-request model or dependency) but documented."""
    media_type, schema = cloudevents
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body}, media_type: {"schema": schema}},
        },
        "parameters": [_LEGACY_PARAMETER],
    }


def event_routes(state: GatewayState) -> APIRouter:
    """The publishing routes of one gateway."""
    router = APIRouter(tags=["events"], responses=ERROR_RESPONSES)
    publishing = _Publishing(state)

    @router.post(
        "/events",
        status_code=202,
        response_model=EventAccepted,
        summary="Publish one event",
        description="Answers 202 with the event's id once the broker confirmed it; never a 2xx before. "
        f"Takes an envelope, a CloudEvent in structured mode (`{ce.STRUCTURED}`) or in binary mode "
        "(`ce-*` headers, the payload as the body).",
        operation_id="publishEvent",
        openapi_extra=_documented(_EVENT_SCHEMA, (ce.STRUCTURED, _CLOUDEVENT_SCHEMA)),
    )
    async def publish_event(request: Request, client: Annotated[Client, requires(Scope.PUBLISH)]) -> Response:
        with state.in_flight:
            return await publishing.one(request, client)

    @router.post(
        "/events/batch",
        response_model=BatchResults,
        summary="Publish many events",
        description=f"Up to BLOODBANK_MAX_BATCH ({state.settings.max_batch}) events, as an array or "
        f'`{{"events": [...]}}`, or CloudEvents as `{ce.BATCH}`, pipelined to the broker; one result per '
        "event, in order.",
        operation_id="publishBatch",
        openapi_extra=_documented(_BATCH_SCHEMA, (ce.BATCH, {"type": "array", "items": _CLOUDEVENT_SCHEMA})),
    )
    async def publish_batch(request: Request, client: Annotated[Client, requires(Scope.PUBLISH)]) -> Response:
        with state.in_flight:
            return await publishing.batch(request, client)

    return router


class _Publishing:
    """What the publishing routes do, for one gateway."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.settings = state.settings
        self._patterns: dict[tuple[str, ...], tuple[TypePattern, ...]] = {}

    async def one(self, request: Request, client: Client) -> Response:
        document = await self._read(request, client)
        try:
            envelope = self._intake(request).envelope(self._cloudevent(request, document))
        except InvalidEvent as exc:
            self._count_refused()
            return answer([PublishOutcome.invalid(None, _hint_batch(document, exc.issues))], batch=False)
        if (refusal := self._refusal(client, envelope)) is not None:
            raise GatewayError(403, [refusal])
        return answer(await self._publish([envelope]), batch=False)

    async def batch(self, request: Request, client: Client) -> Response:
        document = await self._read(request, client)
        cloudevents = _media_type(request) == ce.BATCH
        try:
            items = _cloudevents_batch(document) if cloudevents else batch_items(document)
        except InvalidEvent as exc:
            raise GatewayError(422, exc.issues) from exc
        if len(items) > self.settings.max_batch:
            raise GatewayError.about_request(
                413,
                f"the batch has {len(items)} events; at most {self.settings.max_batch} are accepted per request: "
                "split it into smaller batches",
            )
        # The request paid for one event; a batch costs its number of events.
        await self.state.access.charge(client, Scope.PUBLISH, len(items) - 1)
        outcomes: list[PublishOutcome | None] = [None] * len(items)
        envelopes: list[dict[str, Any]] = []
        positions: list[int] = []
        convert = self._intake(request).envelope
        catalog = self.state.validator.catalog
        for index, item in enumerate(items):
            try:
                if cloudevents:
                    item = ce.envelope_document(item, catalog=catalog, path=f"$[{index}]")  # noqa: PLW2901
                envelope = convert(item)
            except InvalidEvent as exc:
                self._count_refused()
                outcomes[index] = PublishOutcome.invalid(None, exc.issues)
                continue
            if (refusal := self._refusal(client, envelope)) is not None:
                outcomes[index] = PublishOutcome.invalid(None, [refusal])
                continue
            envelopes.append(envelope)
            positions.append(index)
        for index, outcome in zip(positions, await self._publish(envelopes), strict=True):
            outcomes[index] = outcome
        return answer([outcome for outcome in outcomes if outcome is not None], batch=True)

    async def _publish(self, envelopes: Sequence[dict[str, Any]]) -> list[PublishOutcome]:
        """One outcome per envelope; a 503 when the broker stayed unreachable and none was confirmed."""
        if not envelopes:
            return []
        try:
            return await self.state.publisher.publish_many(envelopes)
        except BrokerUnavailable as exc:
            raise GatewayError.broker_unavailable(str(exc)) from exc

    async def _read(self, request: Request, client: Client) -> Any:
        """The request's JSON, once its signature is checked (when it is signed or must be)."""
        body = await _read_body(request, limit=self.settings.max_body_bytes)
        if client.authenticated:
            try:
                await self.state.signatures.check(client, body, request.headers)
            except GatewayError as exc:
                if exc.status == 401:  # noqa: PLR2004 - refused, not a replay check that could not run (503)
                    self.state.metrics.signatures_refused.labels("request").inc()
                raise
        try:
            return decode_json(body)
        except InvalidJson as exc:  # not JSON, or a duplicate key, nesting too deep, U+0000, a number beyond a double
            raise GatewayError(422, [ValidationIssue(exc.path, exc.message)]) from exc

    def _cloudevent(self, request: Request, document: Any) -> Any:
        """The envelope document of a CloudEvent sent structured or binary; any other document as it is."""
        if ce.is_binary(request.headers):
            document = ce.binary_event(request.headers, document)
        elif _media_type(request) != ce.STRUCTURED:
            return document
        return ce.envelope_document(document, catalog=self.state.validator.catalog)

    def _refusal(self, client: Client, envelope: dict[str, Any]) -> ValidationIssue | None:
        """Why ``client`` may not publish ``envelope`` (a type outside its patterns); None when it may."""
        if not client.publish_patterns:
            return None
        patterns = self._patterns.get(client.publish_patterns)
        if patterns is None:
            patterns = self._patterns[client.publish_patterns] = tuple(
                TypePattern.parse(text) for text in client.publish_patterns
            )
        event_type = envelope.get("event_type")
        if isinstance(event_type, str) and any(pattern.matches(event_type) for pattern in patterns):
            return None
        allowed = ", ".join(client.publish_patterns)
        return ValidationIssue(
            "$.event_type", f"client {client.name!r} may publish only event types matching {allowed}"
        )

    def _intake(self, request: Request) -> Intake:
        client = request.client
        return Intake(
            client_host=client.host if client is not None and client.host else self.state.hostname,
            source_app=self.settings.source_app,
            accept_legacy=self.settings.accept_legacy,
            legacy_flag=_legacy_flag(request),
        )

    def _count_refused(self) -> None:
        """Count an event refused before validation (not an object, or a refused legacy envelope)."""
        self.state.metrics.validation.labels("publish", "invalid").inc()
        self.state.metrics.publish.labels("unknown", "invalid").inc()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _cloudevents_batch(document: object) -> list[Any]:
    """The events of a CloudEvents batch: a JSON array of structured events, nothing else."""
    if not isinstance(document, list):
        raise InvalidEvent(
            [ValidationIssue("$", f"a {ce.BATCH} body is an array of CloudEvents, got {json_type(document)}")]
        )
    return document


def _legacy_flag(request: Request) -> bool | None:
    """The ``?legacy=`` flag: ``None`` when absent; 422 when it is not a boolean."""
    if not request.scope.get("query_string"):
        return None
    value = request.query_params.get("legacy")
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise GatewayError(422, [ValidationIssue("query.legacy", f"{value!r} is not a boolean: use true or false")])


async def _read_body(request: Request, *, limit: int) -> bytes:
    """The raw body (what a signature covers); 413 as soon as it is known to exceed ``limit`` bytes.

    The gateway's :class:`~gumdrop.http_limits.RequestLimits` refuses a body too large or not
    JSON before the route runs; the size is checked here too, wherever the routes are mounted.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> GatewayError:
    return GatewayError.about_request(
        413, f"the body is larger than {limit} bytes (BLOODBANK_MAX_BODY_BYTES): send fewer or smaller events"
    )


def answer(outcomes: Sequence[PublishOutcome], *, batch: bool) -> Response:
    """The HTTP answer to the outcomes of one request: the one place where a :class:`PublishOutcome` becomes HTTP.

    One event: ``202 {"event_id"}`` when confirmed, ``422`` with its issues when invalid, ``503``
    otherwise (refused or unconfirmed: nothing durable). A batch: ``200`` with one result per
    event (``accepted``, ``rejected``, ``failed``), unless the broker stayed unreachable and no
    event was confirmed, which is a ``503`` for the whole request.
    """
    for index, refused in enumerate(outcomes):
        if refused.issues:  # where it is wrong, not what it says: the messages may quote the payload
            paths = sorted({issue.path or "$" for issue in refused.issues})
            log.info("publish refused: invalid event", event_id=refused.event_id, index=index, errors=paths)
    if not batch:
        [outcome] = outcomes
        if outcome.ok:
            return json_response(202, {"event_id": outcome.event_id})
        if outcome.issues:
            raise GatewayError(422, outcome.issues)
        if outcome.status is PublishStatus.UNCONFIRMED:
            raise GatewayError.broker_unavailable(outcome.error or "the broker did not confirm the event")
        raise GatewayError.broker_unavailable(f"the broker refused the event: {outcome.error}")
    if any(o.status is PublishStatus.UNCONFIRMED for o in outcomes) and not any(o.ok for o in outcomes):
        unconfirmed = next(o for o in outcomes if o.status is PublishStatus.UNCONFIRMED)
        raise GatewayError.broker_unavailable(unconfirmed.error or "the broker did not confirm the events")
    return json_response(200, {"results": [_result(index, outcome) for index, outcome in enumerate(outcomes)]})


def _result(index: int, outcome: PublishOutcome) -> dict[str, Any]:
    if outcome.ok:
        return {"index": index, "status": "accepted", "event_id": outcome.event_id}
    if outcome.status is PublishStatus.INVALID:
        return _rejected(index, outcome.issues)
    if outcome.status is PublishStatus.UNCONFIRMED:
        return _failed(index, None, "the broker became unreachable before it confirmed this event: retry it")
    return _failed(index, outcome.event_id, f"the broker refused this event: {outcome.error}; retry it")


def _rejected(index: int, issues: Sequence[ValidationIssue]) -> dict[str, Any]:
    return {"index": index, "status": "rejected", "errors": issues_as_json(issues)}


def _failed(index: int, event_id: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "status": "failed", "event_id": event_id, "errors": [{"path": None, "message": message}]}


def _hint_batch(document: object, issues: Sequence[ValidationIssue]) -> Sequence[ValidationIssue]:
    """An array sent to ``/events`` was probably meant for ``/events/batch``: say so."""
    if isinstance(document, list):
        return [ValidationIssue("$", f"{issues[0].message}; to publish several events, POST them to /events/batch")]
    return issues
