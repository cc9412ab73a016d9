"""Settings from the environment, and ``visibility serve`` as its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from visibility.settings import VisibilitySettings

VENV_BIN = Path(sys.executable).parent


def test_the_database_defaults_to_candystores(monkeypatch, tmp_path):
    """VISIBILITY_DATABASE_URL wins, then CANDYSTORE_DATABASE_URL, then Candystore's SQLite file."""
    for name in ("VISIBILITY_DATABASE_URL", "CANDYSTORE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VISIBILITY_DATA_DIR", str(tmp_path))
    assert VisibilitySettings().sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path / 'candystore.sqlite3'}"
    monkeypatch.setenv("CANDYSTORE_DATABASE_URL", "postgresql+asyncpg://db/candystore")
    assert VisibilitySettings().sqlalchemy_url == "postgresql+asyncpg://db/candystore"
    monkeypatch.setenv("VISIBILITY_DATABASE_URL", "postgresql+asyncpg://db/visibility")
    monkeypatch.setenv("VISIBILITY_DATABASE_SCHEMA", "vis")
    settings = VisibilitySettings()
    assert settings.sqlalchemy_url == "postgresql+asyncpg://db/visibility"
    assert settings.connect_args == {"server_settings": {"search_path": "vis"}}
    monkeypatch.setenv("CANDYBAR_URL", "http://ui:9000/")
    assert VisibilitySettings().ui_base == "http://ui:9000"


def test_the_database_tls_settings_default_to_candystores(monkeypatch, tmp_path):
    """Sharing Candystore's database, visibility also takes its CA file and clear-text consent; its own win."""
    for name in ("VISIBILITY_DATABASE_CA_FILE", "VISIBILITY_CLEARTEXT_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    candystore_ca, own_ca = tmp_path / "candystore-ca.pem", tmp_path / "visibility-ca.pem"
    monkeypatch.setenv("CANDYSTORE_DATABASE_CA_FILE", str(candystore_ca))
    monkeypatch.setenv("CANDYSTORE_CLEARTEXT_CREDENTIALS", "true")
    inherited = VisibilitySettings()
    assert inherited.database_ca_file == candystore_ca
    assert inherited.cleartext_credentials is True
    monkeypatch.setenv("VISIBILITY_DATABASE_CA_FILE", str(own_ca))
    monkeypatch.setenv("VISIBILITY_CLEARTEXT_CREDENTIALS", "false")
    own = VisibilitySettings()
    assert own.database_ca_file == own_ca
    assert own.cleartext_credentials is False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VISIBILITY_", "BLOODBANK_", "CANDYSTORE_", "CANDYBAR_"))
    }
    return {**env, "VISIBILITY_DATA_DIR": str(tmp_path), "BLOODBANK_DATA_DIR": str(tmp_path / "bus"), **extra}


def test_serve_refuses_a_bad_rules_file_naming_the_field(tmp_path):
    """An invalid VISIBILITY_RULES stops the command with exit code 1 and the field's path."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 2\nsources: {}\nrules:\n  - id: x\n    observe: offer\n")
    done = subprocess.run(
        [str(VENV_BIN / "visibility"), "serve", "--port", str(free_port())],
        env=environment(tmp_path, VISIBILITY_RULES=str(rules)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "rules[0].entity: Field required" in done.stderr


def test_serve_runs_until_sigterm(tmp_path):
    """`visibility serve` migrates, answers ready on its port, and stops cleanly on SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "visibility"), "serve", "--port", str(port)],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 200:
                break
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "visibility serve did not become ready"
            time.sleep(0.2)
        assert answer.json()["database"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/conflicts", timeout=5).json() == {"items": [], "next_cursor": None}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "alerting is off" in stderr
