"""The one duration parser (``parapet.spec.durations``): alert ``for:``, ``max_age:``, the window policy,
OpenSLO time windows and lookback windows, ``retention:`` and ``parapet archive --older-than`` all use it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parapet.spec.durations import DurationError, format_duration, parse_duration, parse_retention


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2w ", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("0s", timedelta(0)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "-3d", "1.5d", "3x", "90 days", "5m1h", "1" * 100 + "d"])
def test_refused_with_a_bounded_message(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration") as info:
        parse_duration(text)
    assert len(info.value.message) < 300 and info.value.hint


def test_retention_is_positive_and_names_no_flag() -> None:
    assert parse_retention("90d") == timedelta(days=90)
    for text in ("0d", "0s", "soon"):
        with pytest.raises(DurationError) as info:
            parse_retention(text)
        assert "90d" in info.value.hint and "--" not in info.value.message + info.value.hint


@pytest.mark.parametrize("text", ["5m", "1h", "1d", "1h30m", "2d6h", "45s"])
def test_format_round_trips(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
