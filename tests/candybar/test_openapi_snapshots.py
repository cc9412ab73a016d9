"""The UI's typed API clients are generated from OpenAPI snapshots; these must be what the components serve now."""

from __future__ import annotations

import pytest

from tests.candybar.openapi_snapshots import DOCUMENTS, encode, snapshot_path


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_snapshot_matches_the_component(name):
    """A change to a component's API fails here until the snapshot and the UI's clients are regenerated."""
    committed = snapshot_path(name).read_text(encoding="utf-8")
    assert committed == encode(DOCUMENTS[name]()), (
        f"{snapshot_path(name).name} differs from the {name}'s OpenAPI document: run `make ui-api`, "
        "then `make ui` to check that the UI still compiles against it"
    )
