"""Working hours across daylight-saving changes, with explicit instants (UTC in, UTC out).

Europe/Berlin: clocks go 02:00 CET -> 03:00 CEST on 2026-03-29 (01:00 UTC) and 03:00 CEST -> 02:00 CET on
2026-10-25 (01:00 UTC). America/New_York: 02:00 EST -> 03:00 EDT on 2026-03-08 (07:00 UTC), 02:00 EDT ->
01:00 EST on 2026-11-01 (06:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parapet.escalation.chain import Chain, Facts, Next, Tier, select_policy
from parapet.escalation.hours import boundary, is_open, next_open, windows_around, zone
from parapet.spec.model import EscalationMatch, EscalationPolicy, EscalationTier, HoursWindow, WorkingHours

WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(zone_name: str, start: str, end: str, days: frozenset[int] = WEEKDAYS) -> WorkingHours:
    def minutes(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    return WorkingHours("test", zone_name, (HoursWindow(days, minutes(start), minutes(end)),))


BERLIN_OFFICE = hours("Europe/Berlin", "09:00", "17:00")
NY_OFFICE = hours("America/New_York", "09:00", "17:00")


def test_office_hours_keep_wall_clock_times_across_the_spring_change_in_berlin() -> None:
    # Friday before the change: 09:00 CET is 08:00 UTC, 17:00 CET is 16:00 UTC
    assert not is_open(BERLIN_OFFICE, utc(2026, 3, 27, 7, 59, 59))
    assert is_open(BERLIN_OFFICE, utc(2026, 3, 27, 8, 0))
    assert is_open(BERLIN_OFFICE, utc(2026, 3, 27, 15, 59, 59))
    assert not is_open(BERLIN_OFFICE, utc(2026, 3, 27, 16, 0))
    # a step due Friday evening waits for Monday 09:00, now CEST: 07:00 UTC (an hour earlier in UTC)
    assert next_open(BERLIN_OFFICE, utc(2026, 3, 27, 16, 0)) == utc(2026, 3, 30, 7, 0)
    assert not is_open(BERLIN_OFFICE, utc(2026, 3, 30, 6, 59, 59))
    assert is_open(BERLIN_OFFICE, utc(2026, 3, 30, 14, 59, 59))
    assert not is_open(BERLIN_OFFICE, utc(2026, 3, 30, 15, 0))  # 17:00 CEST is 15:00 UTC


def test_office_hours_across_the_autumn_change_in_berlin() -> None:
    # Friday 23 October, CEST: 09:00 is 07:00 UTC; the next Monday (26th), CET: 09:00 is 08:00 UTC
    assert is_open(BERLIN_OFFICE, utc(2026, 10, 23, 7, 0))
    assert next_open(BERLIN_OFFICE, utc(2026, 10, 23, 15, 0)) == utc(2026, 10, 26, 8, 0)
    assert not is_open(BERLIN_OFFICE, utc(2026, 10, 26, 7, 30))


def test_a_window_spanning_the_change_is_as_long_as_the_clocks_say() -> None:
    night = hours("Europe/Berlin", "01:00", "04:00", EVERY_DAY)

    def containing(at: datetime) -> list[tuple[datetime, datetime]]:
        return [w for w in windows_around(night, at) if w[0] <= at < w[1]]

    assert containing(utc(2026, 3, 29, 0, 30)) == [(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))]  # 2 h
    assert containing(utc(2026, 3, 30, 0, 30)) == [(utc(2026, 3, 29, 23, 0), utc(2026, 3, 30, 2, 0))]  # 3 h
    assert containing(utc(2026, 10, 25, 0, 30)) == [(utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0))]  # 4 h


def test_a_boundary_the_clocks_skip_is_the_jump() -> None:
    tz = zone("Europe/Berlin")
    sunday = datetime(2026, 3, 29).date()
    assert boundary(tz, sunday, 2 * 60 + 30) == utc(2026, 3, 29, 1, 0)  # 02:30 never happens: 03:00 CEST
    late = hours("Europe/Berlin", "02:30", "06:00", EVERY_DAY)
    assert not is_open(late, utc(2026, 3, 29, 0, 59, 59))
    assert is_open(late, utc(2026, 3, 29, 1, 0))
    assert next_open(late, utc(2026, 3, 29, 0, 10)) == utc(2026, 3, 29, 1, 0)


def test_a_boundary_that_happens_twice_is_its_first_occurrence() -> None:
    tz = zone("Europe/Berlin")
    sunday = datetime(2026, 10, 25).date()
    assert boundary(tz, sunday, 2 * 60 + 30) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET
    early = hours("Europe/Berlin", "00:00", "02:30", EVERY_DAY)
    assert is_open(early, utc(2026, 10, 25, 0, 29))
    assert not is_open(early, utc(2026, 10, 25, 1, 30))  # 02:30 CET, the second time: closed already


def test_a_window_the_change_swallows_is_not_open_that_day() -> None:
    gone = hours("Europe/Berlin", "02:00", "03:00", EVERY_DAY)
    assert not is_open(gone, utc(2026, 3, 29, 1, 0))
    # the next opening is Monday 02:00 CEST
    assert next_open(gone, utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 30, 0, 0)
    # and in October the same hour lasts two hours of elapsed time (02:00 CEST .. 03:00 CET)
    assert is_open(gone, utc(2026, 10, 25, 0, 0)) and is_open(gone, utc(2026, 10, 25, 1, 59))
    assert not is_open(gone, utc(2026, 10, 25, 2, 0))


@pytest.mark.parametrize(
    ("due", "fires"),
    [
        (utc(2026, 3, 7, 15, 0), utc(2026, 3, 9, 13, 0)),  # Saturday (EST) -> Monday 09:00 EDT = 13:00 UTC
        (utc(2026, 2, 28, 15, 0), utc(2026, 3, 2, 14, 0)),  # a week earlier, still EST: 14:00 UTC
        (utc(2026, 10, 31, 15, 0), utc(2026, 11, 2, 14, 0)),  # Saturday (EDT) -> Monday 09:00 EST = 14:00 UTC
        (utc(2026, 11, 2, 21, 59), utc(2026, 11, 2, 21, 59)),  # 16:59 EST on Monday: open, fires at once
        (utc(2026, 11, 2, 22, 0), utc(2026, 11, 3, 14, 0)),  # 17:00 EST: closed until Tuesday
    ],
)
def test_new_york_office_hours(due: datetime, fires: datetime) -> None:
    assert next_open(NY_OFFICE, due) == fires


def test_an_overnight_window_belongs_to_the_day_it_starts() -> None:
    nights = hours("America/New_York", "22:00", "06:00", frozenset({5}))  # Friday night only
    assert is_open(nights, utc(2026, 3, 7, 10, 59))  # Saturday 05:59 EST
    assert not is_open(nights, utc(2026, 3, 7, 11, 0))
    # Friday 6 March 22:00 EST was 03:00 UTC on the 7th; the next, Friday 13 March 22:00, is EDT: 02:00 UTC
    assert next_open(nights, utc(2026, 3, 7, 12, 0)) == utc(2026, 3, 14, 2, 0)


def _policy(name: str, match: EscalationMatch | None) -> EscalationPolicy:
    return EscalationPolicy(name, (EscalationTier(timedelta(0), ("a",)),), match)


def test_the_first_matching_policy_wins() -> None:
    policies = (
        _policy("payments", EscalationMatch(services=("checkout",), labels=(("team", ("payments",)),))),
        _policy("critical", EscalationMatch(severities=("critical", "page"))),
        _policy("slo", EscalationMatch(slos=("latency",))),
        _policy("default", None),
    )

    def chosen(service: str | None, severity: str, slo: str | None = None, **labels: str) -> str | None:
        found = select_policy(policies, Facts(service, slo, severity, labels))
        return found.name if found else None

    assert chosen("checkout", "warning", team="payments") == "payments"
    assert chosen("checkout", "warning") == "default"  # the label is missing
    assert chosen("checkout", "CRITICAL", team="search") == "critical"  # severity compares case-insensitively
    assert chosen("search", "info", "latency") == "slo"
    assert chosen(None, "info") == "default"
    assert select_policy(policies[:3], Facts("x", None, "info", {})) is None


BASE = utc(2026, 3, 27, 15, 50)  # Friday 16:50 CET


def test_the_schedule_waits_for_working_hours_and_keeps_tiers_in_order() -> None:
    chain = Chain(
        "p",
        (
            Tier(timedelta(0), ("oncall",)),
            Tier(timedelta(minutes=15), ("lead",), BERLIN_OFFICE, "wait"),
            Tier(timedelta(minutes=20), ("cto",)),
        ),
        repeat_every=timedelta(minutes=10),
        repeat_times=2,
    )
    first = chain.following(BASE)
    assert first == Next(0, 0, BASE)
    second = chain.following(BASE, (0, 0), first.due)
    assert second == Next(1, 0, utc(2026, 3, 30, 7, 0))  # 17:05 CET is closed: Monday 09:00 CEST
    third = chain.following(BASE, (1, 0), second.due)
    assert third == Next(2, 0, utc(2026, 3, 30, 7, 0))  # never before the tier above it
    assert chain.following(BASE, (2, 0), third.due) == Next(2, 1, utc(2026, 3, 30, 7, 10))
    assert chain.following(BASE, (2, 1), utc(2026, 3, 30, 7, 10)) == Next(2, 2, utc(2026, 3, 30, 7, 20))
    assert chain.following(BASE, (2, 2), utc(2026, 3, 30, 7, 20)) is None
    assert Chain.from_json(chain.to_json()) == chain


def test_a_skipped_tier_hands_over_to_the_next() -> None:
    chain = Chain(
        "p",
        (
            Tier(timedelta(0), ("oncall",)),
            Tier(timedelta(minutes=15), ("lead",), BERLIN_OFFICE, "skip"),
            Tier(timedelta(minutes=30), ("cto",)),
        ),
    )
    assert chain.following(BASE, (0, 0), BASE) == Next(2, 0, BASE + timedelta(minutes=30), ((1, 0),))
    # inside office hours the tier runs
    morning = utc(2026, 3, 30, 8, 0)
    assert chain.following(morning, (0, 0), morning) == Next(1, 0, morning + timedelta(minutes=15))
    assert chain.successor(0, 0) == (1, 0) and chain.successor(2, 0) == (2, 1)
