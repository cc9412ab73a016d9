"""The Python generator, datamodel-code-generator: a development dependency, pinned.

Only ``holyfields generate`` and ``holyfields check`` need it. Its output depends on its version,
so both refuse another version than the pinned one rather than report drift that is not there.
This module only reads the installed version; ``holyfields.codegen.python`` imports the generator.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["GENERATOR", "GENERATOR_VERSION", "GeneratorUnavailable", "require_generator"]

GENERATOR = "datamodel-code-generator"
GENERATOR_VERSION = "0.89.0"
"""The version the committed code was generated with; the same pin as the dev group in pyproject.toml."""

_INSTALL = "run scripts/bootstrap.sh to install the development dependencies as locked"


class GeneratorUnavailable(Exception):
    """The generator is not installed, or not in the pinned version; the message says what to do."""


def require_generator() -> None:
    """Raise :class:`GeneratorUnavailable` unless the pinned version of the generator is installed."""
    try:
        installed = version(GENERATOR)
    except PackageNotFoundError as exc:
        raise GeneratorUnavailable(
            f"code generation needs {GENERATOR} {GENERATOR_VERSION}, a development dependency, "
            f"which is not installed: {_INSTALL}"
        ) from exc
    if installed != GENERATOR_VERSION:
        raise GeneratorUnavailable(
            f"code generation needs {GENERATOR} {GENERATOR_VERSION} (the pinned version), "
            f"but {installed} is installed: {_INSTALL}"
        )
