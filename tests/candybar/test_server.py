"""The UI server: the bundle and its deep links, /config.json, probes, and the security headers on every answer."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest
import structlog
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from candybar import CandybarSettings, create_app
from candybar.cli import app as cli
from candybar.security import content_security_policy
from candybar.settings import BUNDLE_DIR
from gumdrop.console import logs_on_stderr

INDEX = "<!doctype html><html><head><script type=module src=/assets/app-1234.js></script></head><body></body></html>"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-1234.js").write_text("console.log('ui')")
    return root


@pytest.fixture
def client(bundle: Path) -> TestClient:
    settings = CandybarSettings(
        bundle_dir=bundle,
        gateway_url="http://127.0.0.1:8682",
        candystore_url="https://store.example:8683/",
        visibility_url="http://127.0.0.1:8685",
    )
    return TestClient(create_app(settings), base_url="http://localhost")


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}


def test_config_tells_the_app_where_the_apis_are(client):
    """/config.json names each API's base URL (trailing slash dropped) and is never cached."""
    answer = client.get("/config.json")
    assert answer.status_code == 200
    assert answer.json() == {
        "apis": {
            "gateway": "http://127.0.0.1:8682",
            "candystore": "https://store.example:8683",
            "visibility": "http://127.0.0.1:8685",
        }
    }
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/live?type=retail.*&q=x",
        "/events/0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
        "/trace/abc",
        "/health",
        "/schemas/retail.offer.surfaced.v1",
        "/conflicts?status=resolved&team=magic-apron",
        "/conflicts/0193a5f2-7d4e-7c1a-8b2f-3c4d5e6f7a8b",
    ],
)
def test_every_page_of_the_app_answers_with_the_index(client, path):
    """A deep link to any page of the app is answered with index.html, revalidated on each visit."""
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.text == INDEX
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-cache"


def test_assets_are_served_as_files_and_cached_for_good(client):
    """Hashed assets are served with their own type and an immutable cache lifetime."""
    answer = client.get("/assets/app-1234.js")
    assert answer.status_code == 200
    assert answer.text == "console.log('ui')"
    assert "javascript" in answer.headers["content-type"]
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("path", ["/assets/missing-0000.js", "/favicon.ico", "/events/x/style.css"])
def test_a_missing_file_is_a_404_in_the_error_shape_never_the_page(client, path):
    """A path that names a file and does not exist answers 404 JSON, so a script tag never receives HTML."""
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    [error] = answer.json()["errors"]
    assert error["path"] is None
    assert "in the UI bundle" in error["message"]


@pytest.mark.parametrize("path", ["/assets/%2e%2e/%2e%2e/secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"])
def test_files_outside_the_bundle_cannot_be_reached(client, bundle, path):
    """A path that climbs out of the bundle directory never serves what lies outside it."""
    (bundle.parent / "secret.txt").write_text("do not serve")
    answer = client.get(path)
    assert "do not serve" not in answer.text
    assert answer.status_code in {200, 404}  # the app's page, or no such file


def test_other_methods_are_refused_in_the_error_shape(client):
    """Anything but GET and HEAD on the app answers 405 with a message that says so."""
    answer = client.post("/live", json={})
    assert answer.status_code == 405
    assert answer.json()["errors"][0]["message"].startswith("POST is not allowed")


@pytest.mark.parametrize(
    "path", ["/", "/config.json", "/health/live", "/assets/app-1234.js", "/assets/missing-0000.js"]
)
def test_every_answer_carries_the_security_headers(client, path):
    """Pages, files, probes and errors all carry the CSP, nosniff, a referrer policy and no framing."""
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    policy = directives(headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_the_policy_allows_no_inline_script_and_only_the_configured_apis():
    """script-src is only 'self'; connect-src names each API origin over HTTP and WebSocket, nothing else."""
    policy = directives(
        content_security_policy(["http://127.0.0.1:8682", "https://store.example:8683/base", "http://127.0.0.1:8682/x"])
    )
    every_source = [source for sources in policy.values() for source in sources]
    assert "'unsafe-inline'" not in every_source
    assert "'unsafe-eval'" not in every_source
    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == [
        "'self'",
        "http://127.0.0.1:8682",
        "https://store.example:8683",
        "ws://127.0.0.1:8682",
        "wss://store.example:8683",
    ]


def test_liveness_and_readiness(client):
    """/health/live answers while the process runs; /health/ready once the bundle is there."""
    assert client.get("/health/live").json() == {"status": "live"}
    assert client.get("/health/ready").json() == {"status": "ready"}


def test_metrics_are_the_servers_own_never_the_page(client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    client.get("/conflicts")
    assert 'http_requests_total{route="/{path}",service="candybar",status="200"}' in client.get("/metrics").text


def test_a_missing_bundle_says_how_to_build_it(tmp_path):
    """Without a built bundle, pages and readiness answer 503 naming the command that builds it."""
    client = TestClient(create_app(CandybarSettings(bundle_dir=tmp_path / "nowhere")), base_url="http://localhost")
    for path in ("/", "/health/ready"):
        answer = client.get(path)
        assert answer.status_code == 503
        assert "npm run build:ui" in answer.json()["errors"][0]["message"]
    assert client.get("/health/live").status_code == 200


@pytest.mark.parametrize("value", ["ftp://host", "127.0.0.1:8682", "http://", "http://host/?x=1"])
def test_an_api_url_that_is_no_http_base_url_is_refused(value):
    """A setting that is not an http(s) base URL is an error naming it, never silently replaced."""
    with pytest.raises(pydantic.ValidationError) as caught:
        CandybarSettings(gateway_url=value)
    assert caught.value.errors()[0]["loc"] == ("gateway_url",)


def test_the_command_reports_an_invalid_setting_by_its_variable(monkeypatch):
    """`candybar serve` with a bad CANDYBAR_* variable names it and exits 1 before serving."""
    monkeypatch.setenv("CANDYBAR_CANDYSTORE_URL", "localhost:8683")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "invalid setting CANDYBAR_CANDYSTORE_URL" in result.output


def test_the_packaged_bundle_runs_no_inline_script():
    """The committed bundle's index.html loads its code from files only, as the CSP requires."""
    index = (BUNDLE_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", index, flags=re.DOTALL)
    assert scripts, "the bundle loads no script"
    for attributes, body in scripts:
        assert 'src="/assets/' in attributes
        assert body.strip() == ""
    assert "style=" not in index
    for reference in re.findall(r'(?:src|href)="(/assets/[^"]+)"', index):
        assert (BUNDLE_DIR / reference.lstrip("/")).is_file()


def test_candybar_serve_logs_tracebacks_without_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """The standalone UI server's error logs show the traceback, never the values of its frames' variables."""
    body_text = "payload-that-must-not-be-logged"

    def handle(body: str) -> None:
        raise RuntimeError(f"boom ({len(body)} characters)")

    with logs_on_stderr():  # what `candybar serve` runs uvicorn in
        try:
            handle(body_text)
        except RuntimeError:
            structlog.get_logger("candybar.test").exception("unexpected error in the UI server")
    logged = capsys.readouterr().err
    assert "RuntimeError: boom (31 characters)" in logged
    assert body_text not in logged
