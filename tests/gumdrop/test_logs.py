"""LOG_FORMAT and LOG_LEVEL: one configuration for every command, JSON lines with the contract's fields."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from gumdrop.logs import InvalidLogSetting, LogConfig, configure_logs

VENV_BIN = Path(sys.executable).parent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "terminal", "json_lines", "level"),
    [
        ({}, True, False, logging.WARNING),
        ({}, False, True, logging.WARNING),
        ({"LOG_FORMAT": "console"}, False, False, logging.WARNING),
        ({"LOG_FORMAT": "JSON", "LOG_LEVEL": "Debug"}, True, True, logging.DEBUG),
        ({"LOG_LEVEL": "error"}, False, True, logging.ERROR),
    ],
)
def test_the_format_follows_the_terminal_unless_told(
    environ: dict[str, str], terminal: bool, json_lines: bool, level: int
) -> None:
    stream = _Terminal() if terminal else io.StringIO()
    config = LogConfig.from_environment(default_level=logging.WARNING, stream=stream, environ=environ)
    assert (config.json, config.level) == (json_lines, level)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "invalid setting LOG_FORMAT: expected json or console, got 'xml'"),
        ({"LOG_LEVEL": "loud"}, "invalid setting LOG_LEVEL: expected one of debug, info, warning, error, critical"),
    ],
)
def test_a_setting_no_command_understands_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidLogSetting, match=message):
        LogConfig.from_environment(default_level=logging.INFO, stream=io.StringIO(), environ=environ)


def _fails_with_a_secret_local() -> None:
    card = "4111-secret-local"
    raise ValueError("declined " + card[:4])


def test_json_lines_carry_the_contract_fields_and_no_local_variables() -> None:
    """timestamp, level, logger, event and the line's own fields; a traceback as plain text, no locals."""
    stream = io.StringIO()
    previous = structlog.get_config()
    configure_logs(LogConfig(json=True, level=logging.INFO), stream)
    try:
        log = structlog.get_logger("candystore.ingest")
        log.debug("not written")
        log.info("batch stored", event_id="0190a0a0-0000-7000-8000-00000000000a", size=3)
        try:
            _fails_with_a_secret_local()
        except ValueError:
            log.exception("payment failed")
    finally:
        structlog.configure(**previous)
    stored, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert stored["event"] == "batch stored"
    assert stored["level"] == "info"
    assert stored["logger"] == "candystore.ingest"
    assert stored["event_id"] == "0190a0a0-0000-7000-8000-00000000000a"
    assert stored["size"] == 3
    assert stored["timestamp"].endswith("Z")
    assert failed["level"] == "error"
    assert "_fails_with_a_secret_local" in failed["exception"]
    assert failed["exception"].endswith("ValueError: declined 4111")
    assert "4111-secret-local" not in stream.getvalue()


def test_every_command_refuses_a_bad_log_setting_in_one_line(tmp_path: Path) -> None:
    """The settings are read by the kit for every command: a bad value is one line, exit 1."""
    environment = {**os.environ, "LOG_LEVEL": "loud", "CANDYSTORE_DATA_DIR": str(tmp_path)}
    for command in (["candystore", "purge", "--dry-run"], ["bloodbank", "topology"]):
        result = subprocess.run(
            [str(VENV_BIN / command[0]), *command[1:]],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            "invalid setting LOG_LEVEL: expected one of debug, info, warning, error, critical, got 'loud'"
        ]
