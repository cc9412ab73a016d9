"""Canary of the fast publish path: the installed aiormq and pamqp still have the internals it relies on.

When an upgrade changes one of them, the first two tests fail naming it; the transport
meanwhile publishes with ``basic_publish``, as the last test shows. The others prove
that the check notices each kind of change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import aiormq
import pamqp.frame
import pytest
from structlog.testing import capture_logs

from bloodbank.topology import ConsumerSpec
from bloodbank.transport import OutgoingMessage, PublishResult
from bloodbank.transport.rabbitmq import RabbitMQTransport, wire

INSTALLED = f"aiormq {version('aiormq')} and pamqp {version('pamqp')}"
ADVICE = "update bloodbank/transport/rabbitmq/wire.py to them, or keep the pins; meanwhile basic_publish is used"


@pytest.fixture
async def transport(rabbitmq_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RabbitMQTransport]:
    connected = RabbitMQTransport(rabbitmq_url, connection_name=request.node.name, call_timeout=5, shared_consumers=())
    await connected.connect(timeout=5)
    await connected.declare_topology()
    yield connected
    await connected.close()


async def publishing_channel(transport: RabbitMQTransport) -> aiormq.Channel:
    publisher = transport._publisher
    assert publisher is not None
    return await publisher._open_channel()


def test_pamqp_frames_are_as_the_fast_path_writes_them() -> None:
    """pamqp marshals content headers with the body size where wire.BODY_SIZE says, and templates match its frames."""
    problem = wire.frame_problem()
    assert problem is None, f"{INSTALLED} changed what the fast path relies on: {problem}; {ADVICE}"


@pytest.mark.rabbitmq
async def test_an_aiormq_channel_has_every_internal_the_fast_path_uses(transport: RabbitMQTransport) -> None:
    """A live confirm channel has each attribute, property and handler of wire.py, with the expected types."""
    problem = wire.fast_path_problem(await publishing_channel(transport))
    assert problem is None, f"{INSTALLED} changed what the fast path relies on: {problem}; {ADVICE}"


@pytest.mark.rabbitmq
@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda monkeypatch, channel: monkeypatch.delattr(channel, "message_id_delivery_tag"),
            "message_id_delivery_tag",
        ),
        (lambda monkeypatch, channel: monkeypatch.setattr(channel, "confirmations", []), "confirmations is a list"),
        (lambda monkeypatch, channel: monkeypatch.setattr(channel, "delivery_tag", "7"), "delivery_tag is a str"),
        (lambda monkeypatch, channel: monkeypatch.delattr(channel, "write_queue"), "write_queue is gone"),
        (lambda monkeypatch, channel: monkeypatch.setattr(channel, "publisher_confirms", False), "publisher confirms"),
        (lambda monkeypatch, _: monkeypatch.setattr(aiormq.Channel, "lock", None), "lock is no longer a property"),
        (lambda monkeypatch, _: monkeypatch.delattr(aiormq.Channel, "_on_return_frame"), "_on_return_frame is gone"),
        (lambda monkeypatch, _: monkeypatch.setattr(wire, "BODY_SIZE", slice(12, 20)), "BODY_SIZE"),
    ],
    ids=["attribute-gone", "other-container", "other-type", "writer-gone", "no-confirms", "lock", "handler", "offset"],
)
async def test_the_check_names_what_changed(
    transport: RabbitMQTransport, monkeypatch: pytest.MonkeyPatch, change: Any, named: str
) -> None:
    """Each kind of change (an attribute gone or of another type, a method gone, a frame offset) is named."""
    channel = await publishing_channel(transport)
    change(monkeypatch, channel)
    problem = wire.fast_path_problem(channel)
    assert problem is not None
    assert named in problem


def test_the_check_notices_pamqp_writing_frames_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pamqp that marshals frames another way (here: one byte more in front) fails the frame check."""
    marshal = pamqp.frame.marshal
    monkeypatch.setattr(pamqp.frame, "marshal", lambda frame, channel: b"\x00" + marshal(frame, channel))
    problem = wire.frame_problem()
    assert problem is not None
    assert "body size at bytes 11-18" in problem


def test_the_check_notices_a_channel_frame_without_a_field_it_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    """An aiormq whose ChannelFrame lacks a field the fast path fills fails the frame check, naming the field."""
    monkeypatch.setattr(wire, "FRAME_FIELDS", ("payload", "frames"))
    assert wire.frame_problem() == "aiormq.abc.ChannelFrame has no field 'frames'"


def test_a_channel_of_another_kind_is_not_taken() -> None:
    """Anything but an aiormq channel is refused by name, before any attribute is read."""
    assert wire.fast_path_problem(object()) == "the channel is a object, not an aiormq.Channel"


@pytest.mark.rabbitmq
async def test_the_transport_says_once_which_path_it_takes_and_falls_back_when_the_check_fails(
    rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path is logged once when it fits; with an internal missing, basic_publish is logged and still works."""
    sent = [OutgoingMessage(b"{}", "canary", f"canary-{n}", exchange="") for n in range(3)]
    for missing in (False, True):
        if missing:  # an aiormq without an attribute the fast path needs
            monkeypatch.setitem(wire.CHANNEL_ATTRIBUTES, "frame_writer", object)
        transport = RabbitMQTransport(rabbitmq_url, connection_name=f"canary-{missing}", shared_consumers=())
        with capture_logs() as logs:
            await transport.connect(timeout=5)
            try:
                await transport.declare_topology()
                await transport.declare_consumer(ConsumerSpec("canary", ("canary",)))
                for one in sent:
                    assert await transport.publish_batch([one], timeout=5) == [PublishResult(one.message_id)]
            finally:
                await transport.close()
        paths = [(entry["path"], entry.get("reason"), entry["log_level"]) for entry in logs if "path" in entry]
        if missing:
            assert paths == [("basic_publish", "aiormq.Channel.frame_writer is gone", "warning")]
        else:
            assert paths == [("fast", None, "info")]
