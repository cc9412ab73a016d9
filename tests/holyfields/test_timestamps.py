"""The one timestamp definition: RFC 3339 with an offset, UTC years 1970-9999, no leap second, microseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from holyfields.timestamps import InvalidTimestamp, canonical_timestamp, is_timestamp, parse_timestamp


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-11-02T14:03:27Z", "2026-11-02T14:03:27Z"),
        ("2026-11-02t14:03:27z", "2026-11-02T14:03:27Z"),
        ("2026-11-02T14:03:27.5+01:00", "2026-11-02T13:03:27.5Z"),
        ("2026-11-02T14:03:27.123456-09:30", "2026-11-02T23:33:27.123456Z"),
        ("1970-01-01T05:00:00+05:00", "1970-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59+14:00", "9999-12-31T09:59:59Z"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("2026-03-01T00:30:00+23:59", "2026-02-28T00:31:00Z"),
    ],
)
def test_accepted_timestamps_are_stored_in_utc_with_their_fraction(text: str, stored: str) -> None:
    """An accepted timestamp becomes UTC text with Z, its fractional digits kept as given."""
    assert canonical_timestamp(text)[0] == stored
    assert parse_timestamp(text) == datetime.fromisoformat(stored)
    assert parse_timestamp(text).tzinfo is UTC
    assert is_timestamp(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "0001-01-01T00:00:00+14:00",
            "'0001-01-01T00:00:00+14:00' is out of range: the year in UTC must be between 1970 and 9999",
        ),
        (
            "9999-12-31T23:59:59-14:00",
            "'9999-12-31T23:59:59-14:00' is out of range: the year in UTC must be between 1970 and 9999",
        ),
        (
            "1970-01-01T04:59:59+05:00",
            "'1970-01-01T04:59:59+05:00' is out of range: the year in UTC must be between 1970 and 9999",
        ),
        (
            "2026-12-31T23:59:60Z",
            "'2026-12-31T23:59:60Z' is a leap second (second 60), which cannot be represented: use second 59",
        ),
        (
            "2026-11-02T14:03:27.1234567Z",
            "'2026-11-02T14:03:27.1234567Z' has more than 6 fractional digits: the platform keeps microseconds",
        ),
        ("2026-11-02T14:03:27+24:00", "'2026-11-02T14:03:27+24:00' has an offset beyond ±23:59"),
        ("2026-11-02T14:03:27+05:60", "'2026-11-02T14:03:27+05:60' has an offset beyond ±23:59"),
        (
            "2026-11-02 14:03:27Z",
            "'2026-11-02 14:03:27Z' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'",
        ),
        (
            "2026-11-02T14:03:27",
            "'2026-11-02T14:03:27' is not an RFC 3339 timestamp with an offset, e.g. '2026-11-02T14:03:27Z'",
        ),
        (
            "2026-02-30T00:00:00Z",
            (
                "'2026-02-30T00:00:00Z' is not a valid date and time (day is out of range for month), "
                "e.g. '2026-11-02T14:03:27Z'"
            ),
        ),
        (
            "2026-11-02T24:00:00Z",
            "'2026-11-02T24:00:00Z' is not a valid date and time (hour must be in 0..23), e.g. '2026-11-02T14:03:27Z'",
        ),
    ],
)
def test_refused_timestamps_say_why(text: str, message: str) -> None:
    """A refused timestamp names itself and what is wrong with it."""
    with pytest.raises(InvalidTimestamp) as refused:
        canonical_timestamp(text)
    assert str(refused.value) == message
    assert not is_timestamp(text)


def test_a_value_that_is_not_text_is_refused() -> None:
    """Only strings are timestamps."""
    with pytest.raises(InvalidTimestamp, match="is not an RFC 3339 timestamp"):
        canonical_timestamp(1_700_000_000)  # type: ignore[arg-type]
