"""Working hours as the zone's clocks say, daylight-saving changes included.

A calendar (``parapet.spec.model.WorkingHours``) is weekly windows of wall-clock time in an IANA zone:
"mon-fri 09:00-17:00 Europe/Berlin" means whatever instants Berlin's clocks read 09:00 and 17:00 on those
days, so the window is 8 hours long in winter and summer alike, and 7 or 9 hours of *elapsed* time only
when the window itself spans a change (an overnight window on the last Sunday of March, say).

Every boundary is "the first instant of that local date at which the wall clock reads at least HH:MM":

    a time that exists once     that instant
    a time the clocks skip      (02:30 in Berlin on the last Sunday of March) the instant of the jump, when
                                the clocks go from 02:00 to 03:00 (01:00 UTC)
    a time that happens twice   (02:30 in Berlin on the last Sunday of October) its first occurrence, in
                                summer time (00:30 UTC)

so a window never opens twice, and one that the change swallows entirely (02:00-03:00 on the day clocks go
forward) is simply not open that day.

    is_open(hours, at) -> bool
    next_open(hours, at) -> datetime          ``at`` itself when open, else the next opening (UTC)
    windows_around(hours, at) -> [(start, end)]   the concrete windows near ``at`` (UTC), for the UI
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from parapet.spec.model import WorkingHours

DAY: Final = 24 * 60
# Far enough to find the next opening of any calendar with at least one window a week.
SEARCH_DAYS: Final = 9


@functools.cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def boundary(tz: ZoneInfo, day: date, minutes: int) -> datetime:
    """The first instant of local ``day`` whose wall clock reads ``minutes`` after midnight or later (UTC)."""
    if minutes >= DAY:
        return boundary(tz, day + timedelta(days=1), minutes - DAY)
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if _wall(first, tz) == wall or _wall(second, tz) == wall:
        # exists (once, or twice: the earlier of the two is the first occurrence)
        return min(t for t in (first, second) if _wall(t, tz) == wall)
    # skipped by a change: the clocks jump over it somewhere between the two readings; find the jump
    lo, hi = min(first, second), max(first, second)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if _wall(hi.replace(microsecond=0), tz) >= wall else hi


def _wall(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def windows_around(
    hours: WorkingHours, at: datetime, *, before: int = 1, after: int = SEARCH_DAYS
) -> list[tuple[datetime, datetime]]:
    """The concrete windows that start on the local days from ``before`` days before ``at`` to ``after`` days
    after it, in order, as UTC instants; windows the zone's changes left empty are dropped."""
    tz = zone(hours.zone)
    today = at.astimezone(tz).date()
    out: list[tuple[datetime, datetime]] = []
    for offset in range(-before, after + 1):
        day = today + timedelta(days=offset)
        for window in hours.windows:
            if day.isoweekday() not in window.days:
                continue
            start = boundary(tz, day, window.start)
            end = boundary(tz, day, window.end if window.end > window.start else window.end + DAY)
            if end > start:
                out.append((start, end))
    out.sort()
    return out


def is_open(hours: WorkingHours, at: datetime) -> bool:
    return any(start <= at < end for start, end in windows_around(hours, at, before=1, after=0))


def next_open(hours: WorkingHours, at: datetime) -> datetime:
    """``at`` when the calendar is open then, else the start of its next window."""
    for start, end in windows_around(hours, at):
        if start <= at < end:
            return at
        if start > at:
            return start
    raise ValueError(f"working hours {hours.name!r} have no window in the next {SEARCH_DAYS} days")
