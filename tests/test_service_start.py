"""Starting a service whose database is unreachable: every ``serve`` fails the same way, in one line, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # released on close: nothing listens there


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VISIBILITY_", "BLOODBANK_", "CANDYSTORE_", "CANDYBAR_"))
    }
    return {**inherited, "BLOODBANK_DATA_DIR": str(tmp_path / "bus"), "NO_COLOR": "1", **settings}


@pytest.mark.parametrize(("command", "setting"), [("candystore", "CANDYSTORE"), ("visibility", "VISIBILITY")])
def test_serve_against_an_unreachable_database_says_so_in_one_line_and_exits_2(
    tmp_path: Path, command: str, setting: str
) -> None:
    """No traceback, no banner: the one line names the command and the unreachable database."""
    database = f"postgresql+asyncpg://postgres:secret@127.0.0.1:{_closed_port()}/platform"
    result = subprocess.run(
        [str(VENV_BIN / command), "serve", "--port", str(_closed_port())],
        env=_environment(tmp_path, **{f"{setting}_DATABASE_URL": database, f"{setting}_DATA_DIR": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{command} serve failed: the database is unavailable: "), lines[0]
    assert "secret" not in result.stderr
