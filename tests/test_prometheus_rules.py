"""The alert rules in ``deploy/prometheus`` load, and fire as their unit tests (``alerts_test.yml``) expect."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"


@pytest.fixture
def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        unavailable("promtool is not installed (Debian's prometheus package): the alert rules cannot be checked")
    return tool


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False)


def test_alert_rules_are_valid(promtool: str) -> None:
    """`promtool check rules` accepts every rule of alerts.yml."""
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    """Each rule fires on its condition, with its labels and summary, and stays quiet without it."""
    tested = run(promtool, "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
