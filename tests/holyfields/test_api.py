"""The registry over HTTP: GET /schemas, GET /schemas/{event_type} and its versions."""

from __future__ import annotations

import json
import shutil

from fastapi.testclient import TestClient

from holyfields import Catalog, default_catalog
from holyfields.catalog import default_schema_root
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


def test_versions_list_the_majors_of_one_event_oldest_first(tmp_path) -> None:
    """GET /schemas/{event_type}/versions names every major of that event, and no other event; 404 when unknown."""
    root = tmp_path / "schemas"
    shutil.copytree(default_schema_root(), root)
    v1 = root / "theboard/meeting.started.v1.schema.json"
    v2 = json.loads(v1.read_text(encoding="utf-8"))
    v2.update({"$id": v2["$id"].replace(".v1.", ".v2."), "x-version": "2.0.0"})
    (root / "theboard/meeting.started.v2.schema.json").write_text(json.dumps(v2), encoding="utf-8")
    registry = TestClient(create_app(Catalog.load(root)), base_url="http://localhost")
    for asked in ("theboard.meeting.started.v1", "theboard.meeting.started.v2"):
        response = registry.get(f"/schemas/{asked}/versions")
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [(i["event_type"], i["version"]) for i in items] == [
            ("theboard.meeting.started.v1", "1.0.0"),
            ("theboard.meeting.started.v2", "2.0.0"),
        ]
    single = client.get("/schemas/retail.offer.surfaced.v1/versions").json()["items"]
    assert [i["event_type"] for i in single] == ["retail.offer.surfaced.v1"]
    assert client.get("/schemas/retail.offer.surfaced.v9/versions").status_code == 404
    assert client.get("/schemas/retail.offer.surfaced.v1/versions", params={"all": 1}).status_code == 422
