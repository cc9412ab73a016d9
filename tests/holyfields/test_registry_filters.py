"""GET /schemas?domain=&owner=&status=: the registry's list, filtered; a parameter it does not take is refused."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bloodbank import BloodbankSettings
from bloodbank.gateway import create_gateway
from holyfields import Catalog
from holyfields.catalog import default_schema_root

DEPRECATED = "theboard.meeting.started.v1"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The packaged schemas with one event type deprecated, so that both statuses occur."""
    root = tmp_path_factory.mktemp("schemas") / "schemas"
    shutil.copytree(default_schema_root(), root)
    file = root / "theboard/meeting.started.v1.schema.json"
    schema = json.loads(file.read_text(encoding="utf-8"))
    schema.update({"x-version": "1.0.1", "x-status": "deprecated", "x-deprecated-since": "2026-12-01"})
    file.write_text(json.dumps(schema), encoding="utf-8")
    return Catalog.load(root)


@pytest.fixture(scope="module")
def client(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    settings = BloodbankSettings(data_dir=tmp_path_factory.mktemp("gateway"))
    return TestClient(create_gateway(settings, catalog=catalog), base_url="http://localhost")


def listed(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/schemas?{query}")
    assert response.status_code == 200, response.text
    return [item["event_type"] for item in response.json()["items"]]


def test_domain_keeps_that_domains_event_types(client: TestClient) -> None:
    """`?domain=retail` lists the retail event types only."""
    assert listed(client, "domain=retail") == [
        "retail.inventory.snapshot.v1",
        "retail.offer.surfaced.v1",
        "retail.placement.rendered.v1",
    ]
    assert listed(client, "domain=nosuchdomain") == []


def test_status_keeps_active_or_deprecated(client: TestClient, catalog: Catalog) -> None:
    """`?status=deprecated` lists the deprecated event type, `?status=active` all the others."""
    assert listed(client, "status=deprecated") == [DEPRECATED]
    assert listed(client, "status=active") == [name for name in catalog.event_types if name != DEPRECATED]


def test_filters_combine(client: TestClient) -> None:
    """Filters narrow together: domain, owner and status at once."""
    assert listed(client, "domain=theboard&owner=theboard-team&status=active") == [
        "theboard.brainstorm.completed.v1",
        "theboard.meeting.created.v1",
        "theboard.round.completed.v1",
    ]
    assert listed(client, "domain=retail&owner=theboard-team") == []


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(data=st.data())
def test_every_filter_keeps_exactly_the_matching_event_types(
    client: TestClient, catalog: Catalog, data: st.DataObject
) -> None:
    """For any combination of the catalog's own domains, owners and statuses, the list is exactly the matches."""
    docs = catalog.payload_schemas()
    domain = data.draw(st.none() | st.sampled_from(sorted({d.event_type.domain for d in docs if d.event_type})))
    owner = data.draw(st.none() | st.sampled_from(sorted({d.owner for d in docs})))
    status = data.draw(st.none() | st.sampled_from(["active", "deprecated"]))
    given_filters = {"domain": domain, "owner": owner, "status": status}
    query = "&".join(f"{name}={value}" for name, value in given_filters.items() if value is not None)
    expected = [
        str(d.event_type)
        for d in docs
        if (domain is None or str(d.event_type).startswith(f"{domain}."))
        and (owner is None or d.owner == owner)
        and (status is None or d.status == status)
    ]
    assert listed(client, query) == expected


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "domian=retail",
            [
                {
                    "path": "query.domian",
                    "message": "unknown query parameter; this route takes domain, owner, status",
                }
            ],
        ),
        (
            "type=x&limit=3",
            [
                {"path": "query.type", "message": "unknown query parameter; this route takes domain, owner, status"},
                {"path": "query.limit", "message": "unknown query parameter; this route takes domain, owner, status"},
            ],
        ),
        ("status=retired", [{"path": "query.status", "message": "Input should be 'active' or 'deprecated'"}]),
        ("domain=Retail", [{"path": "query.domain", "message": "String should match pattern '^[a-z][a-z0-9]*$'"}]),
    ],
)
def test_a_parameter_it_does_not_take_or_a_bad_value_is_a_422_naming_it(
    client: TestClient, query: str, errors: list[dict[str, str]]
) -> None:
    """A misspelt or unknown filter is refused, never silently ignored; a bad value names its parameter."""
    response = client.get(f"/schemas?{query}")
    assert response.status_code == 422
    assert response.json() == {"errors": errors}


def test_one_schema_takes_no_query_parameter(client: TestClient) -> None:
    """GET /schemas/{event_type} refuses a query parameter it would otherwise ignore."""
    response = client.get("/schemas/retail.offer.surfaced.v1?version=2")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"path": "query.version", "message": "unknown query parameter; this route takes no query parameters"}
    ]


def test_the_filters_are_in_the_openapi_document(client: TestClient) -> None:
    """The document lists the three filters, status with its two values."""
    parameters = client.get("/openapi.json").json()["paths"]["/schemas"]["get"]["parameters"]
    by_name = {p["name"]: p for p in parameters}
    assert sorted(by_name) == ["domain", "owner", "status"]
    status = json.dumps(by_name["status"]["schema"])
    assert "active" in status
    assert "deprecated" in status
