"""CloudEvents 1.0 and the canonical envelope, both ways, checked against the CloudEvents SDK."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

import pytest
from cloudevents.core.bindings import amqp, http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from bloodbank import build_envelope, cloudevents
from bloodbank.gateway.intake import Intake
from gumdrop.strict_json import decode_json
from holyfields import InvalidEvent, default_catalog, default_validator
from holyfields.naming import ENVELOPE_ID, UUID_PATTERN
from holyfields.timestamps import canonical_timestamp, parse_timestamp

CATALOG = default_catalog()
VALIDATOR = default_validator()
FORMAT = JSONFormat()
INTAKE = Intake(client_host="gateway-client", source_app="tests", accept_legacy=False)
EXAMPLES = [(str(doc.event_type), example) for doc in CATALOG.payload_schemas() for example in doc.examples]
OFFER_TYPE = "retail.offer.surfaced.v1"
OFFER = CATALOG.get(OFFER_TYPE).examples[0]  # type: ignore[union-attr]
SOURCE_TYPES = next(doc for doc in CATALOG.core if doc.title == "Source").content["properties"]["type"]["enum"]
AGENT = {"type": "claude", "name": "meeting-summariser", "instance_id": "0193a5f2-6c1e-7b3a-9f4d-2e8c1a7b5d90"}
PARENTS = ["0193a5f1-0a2b-7c3d-8e4f-5a6b7c8d9e0f", "0193a5f1-0a2b-7c3d-8e4f-5a6b7c8d9e10"]
TRACE = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "trace_flags": "01"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UUID = re.compile(UUID_PATTERN)
SENT_AT = datetime(2026, 11, 2, 15, 3, 27, 512000, tzinfo=timezone(timedelta(hours=1)))


def schema_id(event_type: str) -> str:
    return CATALOG.get(event_type).schema_id  # type: ignore[union-attr]


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def offer_event(**changes: Any) -> dict[str, Any]:
    """A structured CloudEvent of the offer example, with ``changes`` (None removes an attribute)."""
    event = {
        "specversion": "1.0",
        "id": "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
        "source": "/system/web-03/magic-apron",
        "type": OFFER_TYPE,
        "time": "2026-11-02T14:03:27.512Z",
        "data": OFFER,
    }
    event.update(changes)
    return {name: value for name, value in event.items() if value is not None}


def completed(document: dict[str, Any]) -> dict[str, Any]:
    """The envelope the gateway makes of ``document``, which must be valid."""
    envelope = INTAKE.envelope(document)
    assert VALIDATOR.validate(envelope) == []
    return envelope


# --- SDK → platform -----------------------------------------------------------------------

PLATFORM_SOURCES = {
    "/system/web-03/magic-apron": {"host": "web-03", "type": "system", "app": "magic-apron"},
    "/agent/h%C3%B4te%2F1": {"host": "hôte/1", "type": "agent"},
}
FOREIGN_SOURCES = {
    "https://github.com/cloudevents/spec/pull": {"host": "github.com", "type": "webhook", "app": "pull"},
    "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66": {
        "host": "cloudevents",
        "type": "webhook",
        "app": "uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    },
    "/other/path": {"host": "cloudevents", "type": "webhook", "app": "path"},
    "https://example.com": {"host": "example.com", "type": "webhook", "app": "example.com"},
    "/system/h%61/a": {"host": "cloudevents", "type": "webhook", "app": "a"},  # not the exact form: kept as is
    "/": {"host": "cloudevents", "type": "webhook", "app": "cloudevents"},
    "https://example.com/" + "x" * 200: {"host": "example.com", "type": "webhook", "app": "x" * 128},
}

SDK_CASES = {
    "platform source, UUID id, every mapped extension": {
        "id": "0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
        "source": "/system/web-03/magic-apron",
        "time": SENT_AT,
        "datacontenttype": "application/json; charset=utf-8",
        "correlationids": ",".join(PARENTS),
        "agentcontext": compact(AGENT),
        "traceparent": TRACEPARENT,
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    },
    "platform source without app, any id, no time": {
        "id": "delivery 42/7",
        "source": "/agent/h%C3%B4te%2F1",
        "time": None,
    },
    "URL source, other extensions and subject": {
        "id": "A234-1234-1234",
        "source": "https://github.com/cloudevents/spec/pull",
        "subject": "123",
        "time": datetime(2018, 4, 5, 17, 31, tzinfo=UTC),
        "comexampleextension1": "value",
        "comexampleothervalue": 5,
        "tracestate": "alone=1",
    },
    "URN source": {
        "id": "7",
        "source": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "time": SENT_AT,
        "correlationids": PARENTS[0],
    },
}


def sdk_event(event_type: str, data: dict[str, Any], case: dict[str, Any]) -> CloudEvent:
    attributes = {"type": event_type, **{name: value for name, value in case.items() if value is not None}}
    if event_type == OFFER_TYPE:
        attributes["dataschema"] = schema_id(event_type)
    event = CloudEvent(attributes, data)
    if case.get("time", ...) is None:
        event.get_attributes().pop("time")  # the SDK stamps one; a client may send none
    return event


def received(event: CloudEvent, mode: str) -> dict[str, Any]:
    """The envelope document the gateway makes of ``event`` as the SDK sends it in ``mode``."""
    if mode == "structured":
        message = http.to_structured(event, FORMAT)
        assert message.headers["content-type"] == cloudevents.STRUCTURED
        return cloudevents.envelope_document(decode_json(message.body), catalog=CATALOG)
    message = http.to_binary(event, FORMAT)
    assert cloudevents.is_binary(message.headers)
    return cloudevents.envelope_document(
        cloudevents.binary_event(message.headers, decode_json(message.body)), catalog=CATALOG
    )


@pytest.mark.parametrize("mode", ["structured", "binary"])
@pytest.mark.parametrize("case", SDK_CASES.values(), ids=SDK_CASES.keys())
def test_sdk_events_become_valid_envelopes_mapped_as_designed(case: dict[str, Any], mode: str) -> None:
    """Every example sent by the SDK, structured or binary, becomes a valid envelope with the designed mapping."""
    for event_type, example in EXAMPLES:
        event = sdk_event(event_type, example, case)
        before = datetime.now(UTC)
        envelope = completed(received(event, mode))
        attributes = event.get_attributes()
        assert envelope["event_type"] == event_type
        assert envelope["payload"] == example
        kept = envelope["source"].get("meta", {}).get("cloudevents", {})
        if UUID.fullmatch(attributes["id"]):
            assert envelope["event_id"] == attributes["id"]
            assert "id" not in kept
        else:
            assert envelope["event_id"] == str(
                uuid.uuid5(cloudevents.NAMESPACE, f"{attributes['source']}\n{case['id']}")
            )
            assert kept["id"] == case["id"]
        moment = parse_timestamp(envelope["timestamp"])
        if "time" in attributes:
            assert moment == attributes["time"]
        else:
            assert before <= moment <= datetime.now(UTC)
        assert envelope["correlation_ids"] == (case["correlationids"].split(",") if "correlationids" in case else [])
        assert envelope.get("agent_context") == (AGENT if "agentcontext" in case else None)
        if "traceparent" in case:
            assert envelope["trace_context"] == {**TRACE, "tracestate": case["tracestate"]}
        else:
            assert "trace_context" not in envelope
        bare = {name: value for name, value in envelope["source"].items() if name != "meta"}
        assert bare == {**PLATFORM_SOURCES, **FOREIGN_SOURCES}[case["source"]]
        assert kept.get("source") == (case["source"] if case["source"] in FOREIGN_SOURCES else None)
        extensions = {
            name: value for name, value in case.items() if name.startswith("comexample")
        }  # a lone tracestate is discarded
        if mode == "binary":  # headers carry every value as text
            extensions = {name: str(value) for name, value in extensions.items()}
        assert kept.get("extensions", {}) == extensions
        assert kept.get("subject") == case.get("subject")


def test_sources_map_to_the_envelope_source() -> None:
    """``/{type}/{host}[/{app}]`` is the envelope's source; any other source is kept, with a host and app from it."""
    platform = {f"/{kind}/host-1/app": {"host": "host-1", "type": kind, "app": "app"} for kind in SOURCE_TYPES}
    for text, source in {**PLATFORM_SOURCES, **platform}.items():
        document = cloudevents.envelope_document(offer_event(source=text), catalog=CATALOG)
        assert document["source"] == source
        completed(document)
    for text, source in FOREIGN_SOURCES.items():
        document = cloudevents.envelope_document(offer_event(source=text), catalog=CATALOG)
        assert document["source"] == {**source, "meta": {"cloudevents": {"source": text}}}
        completed(document)


def test_time_is_the_timestamp_as_sent() -> None:
    """``time`` is the timestamp as sent (the store writes it in UTC); one that is no time is named by validation."""
    document = cloudevents.envelope_document(offer_event(time="2026-11-02t15:03:27.512+01:00"), catalog=CATALOG)
    assert document["timestamp"] == "2026-11-02t15:03:27.512+01:00"
    assert completed(document)["timestamp"] == "2026-11-02t15:03:27.512+01:00"
    document = cloudevents.envelope_document(offer_event(time="yesterday"), catalog=CATALOG)
    assert document["timestamp"] == "yesterday"
    assert [issue.path for issue in VALIDATOR.validate(INTAKE.envelope(document))] == ["$.timestamp"]


def test_a_parent_named_twice_is_one_parent() -> None:
    """``correlationids`` naming a parent twice (nothing in its syntax forbids it) gives the envelope each once."""
    twice = f"{PARENTS[0]},{PARENTS[1]},{PARENTS[0]}"
    document = cloudevents.envelope_document(offer_event(correlationids=twice), catalog=CATALOG)
    assert document["correlation_ids"] == [PARENTS[0], PARENTS[1]]
    assert completed(document)["correlation_ids"] == [PARENTS[0], PARENTS[1]]


def test_a_redelivered_event_keeps_its_event_id() -> None:
    """The event_id of a non-UUID id depends only on source and id: a redelivery is the same event."""
    first = cloudevents.envelope_document(offer_event(id="42"), catalog=CATALOG)
    again = cloudevents.envelope_document(offer_event(id="42", time="2030-01-01T00:00:00Z"), catalog=CATALOG)
    elsewhere = cloudevents.envelope_document(offer_event(id="42", source="/system/other"), catalog=CATALOG)
    assert first["event_id"] == again["event_id"] != elsewhere["event_id"]
    assert uuid.UUID(first["event_id"]).version == 5


def test_binary_headers_are_case_insensitive_and_percent_decoded() -> None:
    """``ce-*`` headers in any case, percent-decoded; ``content-type`` is the data's content type."""
    headers = {
        "CE-SpecVersion": "1.0",
        "Ce-Id": "caf%C3%A9%20%25",
        "ce-type": OFFER_TYPE,
        "ce-source": "/system/web-03",
        "Content-Type": "application/json",
        "accept": "*/*",
    }
    assert cloudevents.is_binary(headers)
    assert not cloudevents.is_binary({"content-type": cloudevents.STRUCTURED})
    assert cloudevents.binary_event(headers, OFFER) == {
        "specversion": "1.0",
        "id": "café %",
        "type": OFFER_TYPE,
        "source": "/system/web-03",
        "datacontenttype": "application/json",
        "data": OFFER,
    }


# --- platform → SDK -----------------------------------------------------------------------


def platform_envelope(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    envelope = build_envelope(
        event_type,
        payload,
        source={"host": "test-host", "type": "system", "app": "tests"},
        correlation_ids=PARENTS,
        agent_context=AGENT,
    )
    envelope["trace_context"] = {**TRACE, "tracestate": "rojo=00f067aa0ba902b7"}
    assert VALIDATOR.validate(envelope) == []
    return envelope


@pytest.mark.parametrize(("event_type", "example"), EXAMPLES)
def test_structured_events_are_read_by_the_sdk(event_type: str, example: dict[str, Any]) -> None:
    """The structured CloudEvent of every example envelope parses with the SDK, attributes as written."""
    envelope = platform_envelope(event_type, example)
    written = cloudevents.structured(envelope, catalog=CATALOG)
    body = json.dumps(written).encode()
    event = http.from_http(http.HTTPMessage({"content-type": cloudevents.STRUCTURED}, body), FORMAT)
    assert isinstance(event, CloudEvent)
    assert event.get_data() == example
    assert event.get_time() == parse_timestamp(envelope["timestamp"])
    assert {**event.get_attributes(), "time": written["time"]} == {
        name: value for name, value in written.items() if name != "data"
    }
    assert written == {
        "specversion": "1.0",
        "id": envelope["event_id"],
        "source": "/system/test-host/tests",
        "type": event_type,
        "time": envelope["timestamp"],
        "datacontenttype": "application/json",
        "dataschema": schema_id(event_type),
        "correlationids": ",".join(PARENTS),
        "agentcontext": compact(AGENT),
        "traceparent": TRACEPARENT,
        "tracestate": "rojo=00f067aa0ba902b7",
        "data": example,
    }


def test_amqp_properties_are_read_by_the_sdk() -> None:
    """The AMQP application properties, with the envelope as the body, parse with the SDK's AMQP binding."""
    native = platform_envelope(OFFER_TYPE, OFFER)
    foreign = completed(
        cloudevents.envelope_document(
            offer_event(id="A234-1234-1234", source="https://github.com/cloudevents/spec/pull"), catalog=CATALOG
        )
    )
    for envelope, ce_id, ce_source, parents in [
        (native, native["event_id"], "/system/test-host/tests", ",".join(PARENTS)),
        (foreign, "A234-1234-1234", "https://github.com/cloudevents/spec/pull", None),
    ]:
        properties = cloudevents.amqp_properties(envelope)
        assert all(isinstance(value, str) for value in properties.values())
        assert all(name.startswith(cloudevents.AMQP_PREFIX) for name in properties)
        message = amqp.AMQPMessage(
            {"content-type": "application/json"}, dict(properties), json.dumps(envelope).encode()
        )
        event = amqp.from_binary(message, FORMAT)
        assert isinstance(event, CloudEvent)
        assert (event.get_id(), event.get_type(), event.get_source()) == (ce_id, OFFER_TYPE, ce_source)
        assert event.get_time() == parse_timestamp(envelope["timestamp"])
        assert event.get_dataschema() == ENVELOPE_ID
        assert event.get_extension("correlationids") == parents
        assert event.get_data() == envelope
        assert (event.get_id(), event.get_source()) == itemgetter("id", "source")(
            cloudevents.structured(envelope, catalog=CATALOG)
        )


# --- round trips --------------------------------------------------------------------------

CHARACTERS = st.characters(exclude_categories=("Cs", "Cc"))
"""What the platform stores: no control characters (no U+0000), no lone surrogates."""
TEXT = st.text(CHARACTERS, min_size=1, max_size=30)
TRACESTATES = st.text(CHARACTERS, max_size=40)
HEX32, HEX16, HEX2 = (st.from_regex(f"[0-9a-f]{{{n}}}", fullmatch=True) for n in (32, 16, 2))
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(datetime(1971, 1, 1), datetime(9998, 12, 31), timezones=OFFSETS)  # noqa: DTZ001 - bounds are naive
AGENT_CONTEXTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["claude", "letta", "custom"]), "name": TEXT},
    optional={"instance_id": st.uuids().map(str), "mcp_servers": st.lists(TEXT, max_size=3)},
)
TRACE_CONTEXTS = st.fixed_dictionaries(
    {"trace_id": HEX32, "span_id": HEX16, "trace_flags": HEX2}, optional={"tracestate": TRACESTATES}
)
PARENT_LISTS = st.lists(st.uuids().map(str), unique=True, max_size=4)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    event_type, example = draw(st.sampled_from(EXAMPLES))
    source = draw(st.fixed_dictionaries({"host": TEXT, "type": st.sampled_from(SOURCE_TYPES)}, optional={"app": TEXT}))
    envelope = build_envelope(
        event_type,
        example,
        source=source,
        correlation_ids=draw(PARENT_LISTS),
        agent_context=draw(st.none() | AGENT_CONTEXTS),
        timestamp=draw(MOMENTS),
    )
    if (trace := draw(st.none() | TRACE_CONTEXTS)) is not None:
        envelope["trace_context"] = trace
    return envelope


@settings(max_examples=300, deadline=None)
@given(envelope=envelopes())
def test_envelope_to_cloudevent_and_back_is_the_same_envelope(envelope: dict[str, Any]) -> None:
    """Any valid envelope survives structured() and envelope_document() unchanged."""
    assert VALIDATOR.validate(envelope) == []
    back = completed(cloudevents.envelope_document(cloudevents.structured(envelope, catalog=CATALOG), catalog=CATALOG))
    assert canonical_timestamp(back.pop("timestamp"))[0] == canonical_timestamp(envelope["timestamp"])[0]
    assert back == {name: value for name, value in envelope.items() if name != "timestamp"}


RESERVED = {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject", "data"}
MAPPED = {"correlationids", "agentcontext", "traceparent", "tracestate"}
EXTENSION_NAMES = st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(lambda name: name not in RESERVED | MAPPED)
EXTENSION_VALUES = st.one_of(TEXT, st.integers(-(2**31), 2**31 - 1), st.booleans())
URL_PARTS = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~%20", min_size=1, max_size=12)
SOURCES = st.one_of(
    st.builds(
        "https://{}.example/{}".format,
        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        st.lists(URL_PARTS, max_size=4).map("/".join),
    ),
    st.from_regex(r"urn:[a-z]{1,8}:[A-Za-z0-9:.-]{1,30}", fullmatch=True),
    st.builds("/{}/{}".format, st.sampled_from(SOURCE_TYPES), URL_PARTS),
    TEXT,
)
IDS = TEXT.filter(lambda text: not UUID.fullmatch(text))


@st.composite
def foreign_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type, example = draw(st.sampled_from(EXAMPLES))
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(IDS),
        "source": draw(SOURCES),
        "type": event_type,
        **draw(st.dictionaries(EXTENSION_NAMES, EXTENSION_VALUES, max_size=4)),
        **draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "time": MOMENTS.map(datetime.isoformat),
                    "subject": TEXT,
                    "datacontenttype": st.sampled_from(["application/json", "application/vnd.example+json"]),
                    "dataschema": st.just(schema_id(event_type)),
                    "correlationids": PARENT_LISTS.filter(bool).map(",".join),
                    "agentcontext": AGENT_CONTEXTS.map(compact),
                    "traceparent": st.builds("00-{}-{}-{}".format, HEX32, HEX16, HEX2),
                    "tracestate": TRACESTATES,
                },
            )
        ),
    }
    event["data"] = example
    return event


@settings(max_examples=300, deadline=None)
@given(event=foreign_events())
def test_cloudevent_to_envelope_and_back_is_the_same_cloudevent(event: dict[str, Any]) -> None:
    """Any CloudEvent (any id, any source, any extensions) comes back from its envelope as it was sent.

    A tracestate without a traceparent is the exception: it is discarded, as W3C Trace Context says.
    """
    back = cloudevents.structured(completed(cloudevents.envelope_document(event, catalog=CATALOG)), catalog=CATALOG)
    assert back.pop("datacontenttype") == "application/json"
    assert back.pop("dataschema") == schema_id(event["type"])
    sent = {name: value for name, value in event.items() if name not in ("datacontenttype", "dataschema")}
    if "traceparent" not in sent:
        sent.pop("tracestate", None)  # without a traceparent it means nothing (W3C): discarded
    if "time" in sent:
        assert canonical_timestamp(back.pop("time"))[0] == canonical_timestamp(sent.pop("time"))[0]
    else:
        parse_timestamp(back.pop("time"))
    assert back == sent


# --- refusals -----------------------------------------------------------------------------

REFUSALS = {
    "specversion 0.3": ({"specversion": "0.3"}, ".specversion"),
    "no specversion": ({"specversion": None}, ".specversion"),
    "no id": ({"id": None}, ".id"),
    "empty id": ({"id": ""}, ".id"),
    "no source": ({"source": None}, ".source"),
    "no type": ({"type": None}, ".type"),
    "type not a string": ({"type": 5}, ".type"),
    "no data": ({"data": None}, ".data"),
    "data not an object": ({"data": [OFFER]}, ".data"),
    "data_base64": ({"data": None, "data_base64": "e30="}, ".data_base64"),
    "wrong dataschema": ({"dataschema": schema_id("github.pr.opened.v1")}, ".dataschema"),
    "bad traceparent": ({"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}, ".traceparent"),
    "short traceparent": ({"traceparent": "00-4bf92f35-00f067aa0ba902b7-01"}, ".traceparent"),
    "agentcontext not JSON": ({"agentcontext": "{'type': 'claude'}"}, ".agentcontext"),
    "agentcontext not an object": ({"agentcontext": "[1]"}, ".agentcontext"),
    "uppercase attribute name": ({"Subject": "x"}, ".Subject"),
    "attribute name with a dash": ({"my-ext": "x"}, ".my-ext"),
    "attribute name too long": ({"a" * 21: "x"}, "." + "a" * 21),
    "non-JSON datacontenttype": ({"datacontenttype": "text/plain"}, ".datacontenttype"),
    "XML datacontenttype": ({"datacontenttype": "application/xml; charset=utf-8"}, ".datacontenttype"),
    "parent not a UUID": ({"correlationids": f"{PARENTS[0]},parent-7"}, ".correlationids"),
    "extension value an object": ({"myext": {"a": 1}}, ".myext"),
    "tracestate not a string": ({"tracestate": 7}, ".tracestate"),
    "tracestate too long, even alone": ({"tracestate": "a=" + "b" * 511}, ".tracestate"),
}


@pytest.mark.parametrize(("changes", "attribute"), REFUSALS.values(), ids=REFUSALS.keys())
def test_refused_cloudevents_name_the_attribute(changes: dict[str, Any], attribute: str) -> None:
    """Each rule refuses the event with one issue at the offending attribute, under the batch item's path."""
    with pytest.raises(InvalidEvent) as caught:
        cloudevents.envelope_document(offer_event(**changes), catalog=CATALOG, path="$[3]")
    assert [issue.path for issue in caught.value.issues] == ["$[3]" + attribute]


def test_every_problem_is_reported_at_once_and_says_what_to_do() -> None:
    """All problems come in one InvalidEvent, each message saying what is expected."""
    event = offer_event(specversion="0.3", id=None, data=None, data_base64="e30=", traceparent="x")
    with pytest.raises(InvalidEvent) as caught:
        cloudevents.envelope_document(event, catalog=CATALOG)
    assert [str(issue) for issue in caught.value.issues] == [
        "$.specversion: must be '1.0' (CloudEvents 1.0), got '0.3'",
        "$.id: is required: a non-empty string",
        "$.data_base64: the payload must be JSON: send it as 'data', a JSON object",
        "$.traceparent: is not a W3C traceparent '00-<32 hex>-<16 hex>-<2 hex>' (lowercase), got 'x'",
    ]
    with pytest.raises(InvalidEvent) as caught:
        cloudevents.envelope_document([offer_event()], catalog=CATALOG, path="$[0]")
    assert [str(issue) for issue in caught.value.issues] == ["$[0]: expected an object (one CloudEvent), got array"]


def test_an_unknown_type_is_left_to_validation() -> None:
    """A dataschema cannot be checked for a type the catalog lacks; validation names event_type instead."""
    document = cloudevents.envelope_document(
        offer_event(type="retail.offer.vanished.v1", dataschema="https://example.com/x"), catalog=CATALOG
    )
    issues = VALIDATOR.validate(INTAKE.envelope(document))
    assert [issue.path for issue in issues] == ["$.event_type"]


def test_structured_ignores_a_meta_it_did_not_write() -> None:
    """A client's own ``source.meta.cloudevents`` cannot make structured() write an id, source or attribute."""
    envelope = platform_envelope(OFFER_TYPE, OFFER)
    envelope["source"]["meta"] = {
        "region": "eu-west-1",
        "cloudevents": {"id": 5, "source": "", "subject": {}, "extensions": {"specversion": "0.3", "Bad": 1, "ok": []}},
    }
    assert VALIDATOR.validate(envelope) == []
    written = cloudevents.structured(envelope, catalog=CATALOG)
    assert (written["id"], written["source"], written["specversion"]) == (
        envelope["event_id"],
        "/system/test-host/tests",
        "1.0",
    )
    assert not {"subject", "Bad", "ok"} & written.keys()
    del envelope["trace_context"]["trace_flags"]
    assert cloudevents.structured(envelope, catalog=CATALOG)["traceparent"] == TRACEPARENT[:-2] + "00"
