"""Burn-rate windows and factors: the Workbook's numbers for 30 days, exact factors for any period."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parapet.slo.windows import recorded_windows, window_pairs
from parapet.spec.durations import format_duration


def table(days: int) -> list[tuple[str, str, str, str]]:
    return [(p.severity, p.long_name, p.short_name, str(p.factor)) for p in window_pairs(days)]


def test_thirty_days_is_the_workbook() -> None:
    assert table(30) == [
        ("page", "1h", "5m", "14.4"),
        ("page", "6h", "30m", "6"),
        ("ticket", "1d", "2h", "3"),
        ("ticket", "3d", "6h", "1"),
    ]
    assert [format_duration(w) for w in recorded_windows(30)] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def test_twenty_eight_days_keeps_windows_and_scales_factors() -> None:
    rows = table(28)
    assert [r[:3] for r in rows] == [r[:3] for r in table(30)]
    assert [Decimal(r[3]) for r in rows[:3]] == [Decimal("13.44"), Decimal("5.6"), Decimal("2.8")]


def test_seven_days_gets_clean_windows_not_pyrra_minutes() -> None:
    assert [r[:3] for r in table(7)] == [
        ("page", "15m", "5m"),
        ("page", "1h", "5m"),
        ("ticket", "6h", "30m"),
        ("ticket", "12h", "1h"),
    ]


@pytest.mark.parametrize("days", [1, 7, 14, 28, 30, 60, 90, 365])
def test_windows_are_clean_durations(days: int) -> None:
    for pair in window_pairs(days):
        for window in (pair.long, pair.short):
            assert format_duration(window) in {
                "5m",
                "10m",
                "15m",
                "30m",
                "1h",
                "2h",
                "3h",
                "6h",
                "12h",
                "1d",
                "2d",
                "3d",
                "4d",
                "7d",
                "14d",
                "21d",
                "30d",
            }


@given(st.integers(min_value=1, max_value=365))
def test_every_pair_alerts_at_its_budget_consumption(days: int) -> None:
    period = timedelta(days=days)
    for pair in window_pairs(days):
        assert timedelta(minutes=5) <= pair.short < pair.long <= period
        # burning at exactly `factor` for the long window consumes budget_percent of the budget
        consumed = pair.factor * Decimal(int(pair.long.total_seconds())) / Decimal(int(period.total_seconds()))
        assert abs(consumed - pair.budget_percent / 100) < Decimal("1e-20")
