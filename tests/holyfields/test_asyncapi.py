"""The AsyncAPI document: valid AsyncAPI 3.0.0, examples that are valid events, and the bus as the platform runs it.

The official AsyncAPI 3.0.0 JSON Schema comes from the npm package ``@asyncapi/specs`` (pinned in
package-lock.json, installed into node_modules/ by scripts/bootstrap.sh).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from bloodbank import BloodbankSettings
from bloodbank.cloudevents import amqp_properties
from bloodbank.gateway import create_gateway
from bloodbank.signing import KEY_ID_HEADER, SIGNATURE_HEADER
from bloodbank.topology import SHARED_CONSUMERS, Headers, matches
from bloodbank.tracing import TRACEPARENT, TRACESTATE, stamped
from holyfields import codegen, default_catalog, default_validator
from holyfields.codegen.asyncapi import MESSAGE_HEADERS, PLATFORM_CONSUMERS, asyncapi_document
from tests.conftest import unavailable
from visibility import detector

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "node_modules/@asyncapi/specs/schemas/3.0.0.json"
COMMITTED = codegen.default_output_root() / "asyncapi/asyncapi.json"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema_rs.Validator:
    """The official AsyncAPI 3.0.0 schema (its definitions are bundled inside it: no network needed)."""
    if not SPEC.is_file():
        unavailable(f"{SPEC.relative_to(ROOT)} is missing: run scripts/bootstrap.sh (npm ci installs @asyncapi/specs)")
    return jsonschema_rs.validator_for(json.loads(SPEC.read_text(encoding="utf-8")))


def messages() -> list[tuple[str, dict[str, Any]]]:
    return sorted(document()["components"]["messages"].items())


def examples() -> list[dict[str, Any]]:
    return [example for _name, message in messages() for example in message["examples"]]


def each_example() -> pytest.MarkDecorator:
    """Every message example as a test parameter, named after its message."""
    return pytest.mark.parametrize(
        "example",
        [
            pytest.param(example, id=f"{name}/{example['name']}")
            for name, message in messages()
            for example in message["examples"]
        ],
    )


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """The target of a local ``$ref`` (``#/a/b``), or a KeyError."""
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_the_document_is_valid_asyncapi_3(asyncapi_validator: jsonschema_rs.Validator) -> None:
    """The committed document validates against the official AsyncAPI 3.0.0 JSON Schema."""
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in asyncapi_validator.iter_errors(document())]
    assert errors == []


def test_the_official_schema_catches_a_broken_document(asyncapi_validator: jsonschema_rs.Validator) -> None:
    """The same validator refuses a document with a wrong action, binding or example, so the check above can fail."""
    for path, value in [
        (("operations", "receiveCandystoreEvents", "action"), "consume"),
        (("channels", "candystore.events", "bindings", "amqp", "is"), "stream"),
        (("components", "messages", "RetailOfferSurfacedV1", "examples", 0, "headers"), "not an object"),
        (("components", "correlationIds", "causation", "location"), "payload.correlation_ids"),
    ]:
        broken = copy.deepcopy(document())
        *parents, last = path
        target: Any = broken
        for part in parents:
            target = target[part]
        target[last] = value
        assert not asyncapi_validator.is_valid(broken), path


def test_every_reference_resolves_and_operations_use_their_channels_messages() -> None:
    """Each $ref points inside the document, and each operation's messages belong to its channel."""
    doc = document()
    for ref in refs(doc):
        assert ref.startswith("#/"), ref
        resolve(doc, ref)
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name


@each_example()
def test_every_example_is_a_full_envelope_that_validates(example: dict[str, Any]) -> None:
    """Each example is an envelope valid against the envelope schema, with a payload valid against its schema."""
    catalog = default_catalog()
    envelope = example["payload"]
    registry = jsonschema_rs.Registry([(uri, dict(schema)) for uri, schema in catalog.resources()])
    envelope_schema = jsonschema_rs.Draft7Validator(dict(catalog.envelope.content), registry=registry)
    assert [e.message for e in envelope_schema.iter_errors(envelope)] == []
    payload_doc = catalog.get(envelope["event_type"])
    assert payload_doc is not None
    payload_schema = jsonschema_rs.Draft7Validator(dict(payload_doc.content), registry=registry)
    assert [e.message for e in payload_schema.iter_errors(envelope["payload"])] == []
    assert default_validator().validate(envelope) == []  # and by the platform's own rules (UUIDs, timestamps)


@each_example()
def test_every_example_matches_its_message_schemas(example: dict[str, Any]) -> None:
    """The message's own payload and headers schemas (inside the document) accept its example."""
    doc = document()
    [name] = doc["channels"][example["payload"]["event_type"]]["messages"]
    for part in ("payload", "headers"):
        validator = jsonschema_rs.validator_for(
            {"$ref": f"urn:asyncapi#/components/messages/{name}/{part}"},
            registry=jsonschema_rs.Registry([("urn:asyncapi", doc)]),
            validate_formats=True,
        )
        assert [e.message for e in validator.iter_errors(example[part])] == [], part


def test_the_examples_wrap_the_schemas_payload_examples_in_order() -> None:
    """Every payload example of every schema appears once, in order, inside its message's envelopes."""
    doc = document()
    for event_doc in default_catalog().payload_schemas():
        name = doc["channels"][str(event_doc.event_type)]["messages"].popitem()[0]
        examples = doc["components"]["messages"][name]["examples"]
        assert [ex["payload"]["payload"] for ex in examples] == event_doc.examples
        assert {ex["payload"]["event_type"] for ex in examples} == {str(event_doc.event_type)}


@each_example()
def test_example_headers_are_what_bloodbank_publishes_with(example: dict[str, Any]) -> None:
    """The headers of an example are the CloudEvents properties and trace context Bloodbank sets for its envelope."""
    envelope = example["payload"]
    trace = envelope["trace_context"]
    span = NonRecordingSpan(
        SpanContext(int(trace["trace_id"], 16), int(trace["span_id"], 16), is_remote=False, trace_flags=TraceFlags(1))
    )
    restamped, trace_headers = stamped(envelope, span)
    assert restamped == envelope
    assert example["headers"] == {**amqp_properties(envelope), **trace_headers}


def test_the_headers_schema_names_every_header_bloodbank_sets() -> None:
    """Every AMQP header Bloodbank writes (CloudEvents, trace, signature, replay, dead letter) is described."""
    envelope = examples()[0]["payload"]
    written = {
        *amqp_properties(envelope),
        TRACEPARENT,
        TRACESTATE,
        KEY_ID_HEADER,
        SIGNATURE_HEADER,
        *(value for name, value in vars(Headers).items() if name.isupper()),
    }
    assert set(MESSAGE_HEADERS["properties"]) == written
    assert set(MESSAGE_HEADERS["required"]) <= set(amqp_properties({**envelope, "correlation_ids": []}))


def test_the_correlation_id_points_at_the_envelopes_parents() -> None:
    """The correlation id's runtime expression finds each example's correlation_ids."""
    doc = document()
    location = doc["components"]["correlationIds"]["causation"]["location"]
    assert location == "$message.payload#/correlation_ids"
    for example in examples():
        assert example["payload"][location.rsplit("/", 1)[-1]]
    for _name, message in messages():
        assert message["correlationId"] == {"$ref": "#/components/correlationIds/causation"}


def test_receive_operations_are_the_platforms_consumers() -> None:
    """The consumers described are Bloodbank's shared ones plus the visibility detector, with their bindings."""
    described = {consumer.queue: consumer.bindings for consumer in PLATFORM_CONSUMERS}
    running = {spec.name: tuple(spec.bindings) for spec in SHARED_CONSUMERS}
    running[detector.CONSUMER] = tuple(detector.BINDINGS)
    assert described == running


@pytest.mark.parametrize("consumer", PLATFORM_CONSUMERS, ids=lambda c: c.queue)
def test_each_consumer_queue_receives_what_its_bindings_route(consumer: Any) -> None:
    """A consumer's channel and receive operation list exactly the event types its binding keys match."""
    doc = document()
    channel = doc["channels"][consumer.queue]
    assert channel["bindings"]["amqp"]["is"] == "queue"
    assert channel["bindings"]["amqp"]["queue"]["name"] == consumer.queue
    routed = {
        message["$ref"].rsplit("/", 1)[-1]
        for message in doc["operations"][f"receive{consumer.queue.title().replace('.', '')}"]["messages"]
    }
    expected = {
        doc["components"]["messages"][name]["title"]
        for name, message in doc["components"]["messages"].items()
        if any(matches(binding, message["name"]) for binding in consumer.bindings)
    }
    assert routed == expected == set(channel["messages"])
    assert expected


def test_the_gateway_serves_the_committed_document(tmp_path: Path) -> None:
    """GET /asyncapi.json answers the committed document byte for byte, as JSON."""
    gateway = TestClient(create_gateway(BloodbankSettings(data_dir=tmp_path)), base_url="http://localhost")
    response = gateway.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == COMMITTED.read_bytes()
    assert asyncapi_document(default_catalog()) == COMMITTED.read_text(encoding="utf-8")
    assert gateway.get("/asyncapi.json?format=yaml").status_code == 422
