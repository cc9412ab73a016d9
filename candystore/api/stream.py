"""WebSocket ``/events/stream``: committed events matching the filters of ``GET /events``, as they are stored.

Each event is one text message: the envelope as ``GET /events/{id}`` returns it. A bad
filter (a malformed or too long type pattern, a time the store cannot hold) closes the
socket with 1008 and a reason naming the parameter. When the hub already serves its
maximum of subscribers, the socket is closed with 1013 and a reason. A client that
falls too far behind is dropped by the hub and closed with 1013 and ``too slow: N events
behind``; it reconnects and catches up with ``GET /events``. Shutdown closes with 1001.
With API keys, the client needs ``read``: a refusal closes with 4401, 4403 or 4429 and why
(see :func:`gumdrop.access_control.accept_websocket`), as does a page from a foreign origin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from candystore.api.params import parse_stream_filter
from candystore.live import HubFull, LiveHub, LiveSubscriber, SubscriberDropped
from candystore.store.writes import normalise_timestamp
from gumdrop.access_control import accept_websocket
from gumdrop.http_errors import ApiError
from gumdrop.principals import Scope

__all__ = ["POLICY_VIOLATION", "stream_routes"]

log = structlog.get_logger(__name__)

POLICY_VIOLATION = 1008
_MAX_REASON_BYTES = 123  # the WebSocket protocol's limit on a close reason
_encoder = msgspec.json.Encoder()


def _as_stored(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as the store keeps it: the timestamp in UTC, everything else as published."""
    try:
        timestamp, _ = normalise_timestamp(envelope["timestamp"])
    except (KeyError, TypeError, ValueError):
        return _encoder.encode(envelope)
    return _encoder.encode({**envelope, "timestamp": timestamp})


def _reason(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return text
    return encoded[: _MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _forward(websocket: WebSocket, subscriber: LiveSubscriber) -> None:
    """Send what the subscriber receives until it is dropped; then close with the hub's code and reason."""
    while True:
        try:
            batch = await subscriber.next_batch()
        except SubscriberDropped as dropped:
            await websocket.close(code=dropped.code, reason=_reason(dropped.reason))
            return
        for envelope in batch:
            await websocket.send_text(_as_stored(envelope).decode())


def stream_routes(hub: LiveHub) -> APIRouter:
    router = APIRouter()

    @router.websocket("/events/stream")
    async def stream(websocket: WebSocket) -> None:
        if await accept_websocket(websocket, Scope.READ) is None:
            return  # refused, with a close code and reason saying why
        try:
            filters = parse_stream_filter(websocket.query_params)
        except ApiError as exc:
            message = "; ".join(str(issue) for issue in exc.errors)
            await websocket.close(code=POLICY_VIOLATION, reason=_reason(message))
            return
        try:
            subscriber = hub.subscribe(filters)
        except HubFull as full:
            log.warning("live stream full: a subscriber was refused", limit=full.limit)
            await websocket.close(code=full.code, reason=_reason(full.reason))
            return
        sender = asyncio.create_task(_forward(websocket, subscriber))
        receiver = asyncio.create_task(_until_disconnect(websocket))
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            subscriber.close()
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
                    await task

    return router
