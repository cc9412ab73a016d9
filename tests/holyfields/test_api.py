"""The registry over HTTP: GET /schemas and GET /schemas/{event_type}."""

from __future__ import annotations

from fastapi.testclient import TestClient

from holyfields import default_catalog
from stack.app import create_app

client = TestClient(create_app(default_catalog()), base_url="http://localhost")


def test_list_has_every_event_type_with_its_metadata() -> None:
    """The list names each event type with version, owner and status."""
    response = client.get("/schemas")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["event_type"] for i in items] == default_catalog().event_types
    offer = next(i for i in items if i["event_type"] == "retail.offer.surfaced.v1")
    assert offer["version"] == "1.0.0"
    assert offer["owner"] == "retail-platform"
    assert offer["status"] == "active"


def test_one_schema_comes_with_its_json_schema_and_examples() -> None:
    """One event type returns its payload schema and examples as stored."""
    response = client.get("/schemas/fireflies.transcript.ready.v1")
    assert response.status_code == 200
    body = response.json()
    doc = default_catalog().get("fireflies.transcript.ready.v1")
    assert doc is not None
    assert body["schema"] == dict(doc.content)
    assert body["examples"] == doc.examples


def test_unknown_event_type_is_a_404_that_says_where_to_look() -> None:
    """An unregistered event type answers 404 naming it."""
    response = client.get("/schemas/fireflies.transcript.done.v1")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [
            {
                "path": None,
                "message": (
                    "unknown event type 'fireflies.transcript.done.v1': see GET /schemas for the registered ones"
                ),
            }
        ]
    }


def test_openapi_documents_the_registry_routes() -> None:
    """The OpenAPI document lists both registry routes."""
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/schemas", "/schemas/{event_type}"} <= set(paths)
