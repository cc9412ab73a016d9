"""The pinned Python generator: a development dependency, checked, and blind to the current directory's config."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest
from typer.testing import CliRunner

from holyfields.cli import app
from holyfields.codegen import python, toolchain

ROOT = Path(__file__).resolve().parents[2]
HOLYFIELDS = Path(sys.executable).parent / "holyfields"
# Formatting settings a developer's own project might have; the generator used to follow them.
HOSTILE_PYPROJECT = """\
[tool.black]
line-length = 40
skip-string-normalization = false

[tool.isort]
profile = "google"
line_length = 40
known_first_party = ["pydantic"]

[tool.ruff]
line-length = 40

[tool.datamodel-codegen]
builtin-format-line-length = 40
"""


def test_check_passes_from_a_directory_with_other_formatting_settings(tmp_path: Path) -> None:
    """`holyfields check` run elsewhere, under a pyproject.toml with other black/isort/ruff settings, finds no drift."""
    (tmp_path / "pyproject.toml").write_text(HOSTILE_PYPROJECT, encoding="utf-8")
    command = [str(HOLYFIELDS), "check"]
    result = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, "generated code matches the schemas\n", "")


def test_commands_that_do_not_generate_never_import_the_generator() -> None:
    """Importing holyfields, its HTTP API and CLI, and running validate and list, loads no datamodel-code-generator."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "import holyfields, holyfields.api, holyfields.codegen\n"
        "from holyfields.cli import app\n"
        "assert CliRunner().invoke(app, ['validate']).exit_code == 0\n"
        "assert CliRunner().invoke(app, ['list']).exit_code == 0\n"
        "print(sorted(name for name in sys.modules if name.startswith('datamodel_code_generator')))\n"
    )
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def _not_installed(name: str) -> str:
    raise PackageNotFoundError(name)


@pytest.mark.parametrize("command", ["generate", "check"])
def test_missing_generator_is_one_line_saying_what_to_do(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """Without the generator, generate and check print one line naming it and the installer, and exit 2."""
    monkeypatch.setattr(toolchain, "version", _not_installed)
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "code generation needs datamodel-code-generator 0.89.0, a development dependency, which is not installed:"
        " run scripts/bootstrap.sh to install the development dependencies as locked\n"
    )


@pytest.mark.parametrize("command", ["generate", "check"])
def test_another_generator_version_is_reported_instead_of_drift(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """With another version installed, generate and check say which versions differ, write nothing and exit 2."""
    monkeypatch.setattr(toolchain, "version", lambda _name: "0.90.1")
    result = CliRunner().invoke(app, [command, "--out", "/nonexistent/generated"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "code generation needs datamodel-code-generator 0.89.0 (the pinned version), but 0.90.1 is installed:"
        " run scripts/bootstrap.sh to install the development dependencies as locked\n"
    )


def test_the_pin_is_the_same_everywhere() -> None:
    """The generator is a dev dependency pinned exactly, to the version the lock and the code check for."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    assert not [dep for dep in project["project"]["dependencies"] if dep.startswith(toolchain.GENERATOR)]
    pins = [dep for dep in project["dependency-groups"]["dev"] if dep.startswith(toolchain.GENERATOR)]
    assert pins == [f"{toolchain.GENERATOR}=={toolchain.GENERATOR_VERSION}"]
    locked = [package["version"] for package in lock["package"] if package["name"] == toolchain.GENERATOR]
    assert locked == [toolchain.GENERATOR_VERSION]


def test_generated_python_follows_the_projects_own_formatting() -> None:
    """The line length given to the generator is the project's ruff line length."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["ruff"]["line-length"] == python.LINE_LENGTH
