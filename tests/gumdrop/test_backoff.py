"""The one backoff policy: doubling from the first pause, capped, whatever the count of failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gumdrop.backoff import Backoff


def test_pauses_double_from_the_first_up_to_the_ceiling() -> None:
    backoff = Backoff(first=0.25, ceiling=2.0)
    assert [backoff.pause(failures) for failures in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


@given(
    first=st.floats(min_value=1e-6, max_value=1e3),
    factor=st.floats(min_value=1.0, max_value=1e6),
    failures=st.integers(min_value=-5, max_value=10**9),
)
def test_a_pause_is_never_below_the_first_nor_above_the_ceiling(first: float, factor: float, failures: int) -> None:
    """However long an outage lasts, the pause stays finite and bounded (no overflow after many failures)."""
    backoff = Backoff(first=first, ceiling=first * factor)
    pause = backoff.pause(failures)
    assert first <= pause <= backoff.ceiling
    assert backoff.pause(failures + 1) >= pause


@pytest.mark.parametrize(("first", "ceiling"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_a_backoff_that_cannot_pause_is_refused(first: float, ceiling: float) -> None:
    with pytest.raises(ValueError, match="0 < first <= ceiling"):
        Backoff(first=first, ceiling=ceiling)
