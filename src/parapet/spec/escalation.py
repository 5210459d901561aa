"""Map ``escalation:`` of a ``parapet/v1`` spec onto the model, checking what pydantic cannot.

Each refusal names the value's ``file:line:col`` and says how to fix it:

    working_hours   the zone is an IANA zone this machine knows; days read as ``mon-fri``, ``sat,sun`` or a
                    list; ``from`` and ``to`` differ; a calendar is one window or ``windows:``, not both
    policies        names unique; a policy without ``match`` takes every incident, so only the last may lack it;
                    ``during`` names a declared calendar; ``outside`` needs a calendar
    tiers           ``after`` never decreases from one tier to the next; every ``notify`` target is declared
                    under ``notifiers:`` when the spec has that section (``parapet doctor`` flags the rest)
    repeat          ``every`` is longer than zero
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Final

from parapet.spec import v1
from parapet.spec.durations import DurationError, parse_duration
from parapet.spec.model import (
    EscalationMatch,
    EscalationPolicy,
    EscalationSettings,
    EscalationTier,
    HoursWindow,
    WorkingHours,
)
from parapet.spec.preview import preview
from parapet.spec.source import PathKey, SourceDocument

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_HINT: Final = "write days as mon-fri, sat,sun or a list such as [mon, wed, fri]"
ZONE_HINT: Final = "use an IANA time zone such as Europe/Berlin, America/New_York or UTC"


def build_escalation(
    doc: SourceDocument, section: v1.Escalation | None, notifiers: Collection[str] | None
) -> EscalationSettings:
    """The escalation settings; ``notifiers`` is the set of declared target names (None: the spec declares
    none, and target names are only checked for their form)."""
    if section is None:
        return EscalationSettings()
    base: PathKey = ("escalation",)
    calendars = {
        name: _calendar(doc, (*base, "working_hours", name), name, hours)
        for name, hours in section.working_hours.items()
    }
    policies: list[EscalationPolicy] = []
    seen: dict[str, int | None] = {}
    catch_all: EscalationPolicy | None = None
    for index, policy in enumerate(section.policies):
        loc: PathKey = (*base, "policies", index)
        if policy.name in seen:
            raise doc.error(
                (*loc, "name"),
                f"duplicate escalation policy {preview(policy.name)}",
                f"the first is at line {seen[policy.name]}; give every policy its own name",
            )
        seen[policy.name] = doc.locate(loc).line
        if catch_all is not None:
            raise doc.error(
                (*loc, "name"),
                f"policy {preview(policy.name)} is never chosen",
                f"policy {preview(catch_all.name)} (line {catch_all.line}) has no match: and takes every incident; "
                "move it last, or give it a match:",
            )
        built = _policy(doc, loc, policy, calendars, notifiers)
        if built.match is None:
            catch_all = built
        policies.append(built)
    try:
        overdue = parse_duration(section.overdue_after)
    except DurationError as exc:
        raise doc.error((*base, "overdue_after"), exc.message, exc.hint) from None
    return EscalationSettings(policies=tuple(policies), working_hours=tuple(calendars.values()), overdue_after=overdue)


def _policy(
    doc: SourceDocument,
    loc: PathKey,
    policy: v1.EscalationPolicy,
    calendars: dict[str, WorkingHours],
    notifiers: Collection[str] | None,
) -> EscalationPolicy:
    default_hours = _calendar_ref(doc, (*loc, "during"), policy.during, calendars)
    tiers: list[EscalationTier] = []
    previous = timedelta(0)
    for index, tier in enumerate(policy.tiers):
        tloc: PathKey = (*loc, "tiers", index)
        after = _duration(doc, (*tloc, "after"), tier.after)
        if after < previous:
            raise doc.error(
                (*tloc, "after"),
                f"tier {index} is due after {tier.after}, before the tier above it",
                "order the tiers by after: each tier waits at least as long as the one before",
            )
        previous = after
        for i, target in enumerate(tier.notify):
            if notifiers is not None and target not in notifiers:
                close = difflib.get_close_matches(target, sorted(notifiers), n=1)
                raise doc.error(
                    (*tloc, "notify", i),
                    f"notifier target {preview(target)} is not declared",
                    (f"did you mean {preview(close[0])}? " if close else "")
                    + "declare it under notifiers:, or use one of: "
                    + (", ".join(sorted(notifiers)) or "(none declared)"),
                )
        if len(set(tier.notify)) != len(tier.notify):
            raise doc.error((*tloc, "notify"), "a target is listed twice", "list each notifier target once per tier")
        hours = _calendar_ref(doc, (*tloc, "during"), tier.during, calendars) or default_hours
        outside = tier.outside or policy.outside
        if tier.outside is not None and hours is None:
            raise doc.error(
                (*tloc, "outside"),
                "outside: applies only to a tier with working hours",
                "add during: <calendar> to the tier or the policy, or remove outside:",
            )
        tiers.append(
            EscalationTier(
                after=after, notify=tuple(tier.notify), hours=hours, outside=outside, line=doc.locate(tloc).line
            )
        )
    if policy.outside != "wait" and "outside" in policy.model_fields_set and default_hours is None:
        raise doc.error(
            (*loc, "outside"),
            "outside: applies only with working hours",
            "add during: <calendar> to the policy, or remove outside:",
        )
    every, times = None, 0
    if policy.repeat is not None:
        every = _duration(doc, (*loc, "repeat", "every"), policy.repeat.every)
        if every <= timedelta(0):
            raise doc.error((*loc, "repeat", "every"), "repeat every 0s would page without pause", "use e.g. 10m")
        times = policy.repeat.times
    return EscalationPolicy(
        name=policy.name,
        tiers=tuple(tiers),
        match=_match(policy.match),
        repeat_every=every,
        repeat_times=times,
        line=doc.locate(loc).line,
    )


def _match(match: v1.EscalationMatch | None) -> EscalationMatch | None:
    if match is None:
        return None

    def many(value: str | list[str] | None) -> tuple[str, ...]:
        return () if value is None else (value,) if isinstance(value, str) else tuple(value)

    return EscalationMatch(
        services=many(match.service),
        slos=many(match.slo),
        severities=tuple(s.lower() for s in many(match.severity)),
        labels=tuple(sorted((k, many(v)) for k, v in match.labels.items())),
    )


def _calendar_ref(
    doc: SourceDocument, loc: PathKey, name: str | None, calendars: dict[str, WorkingHours]
) -> WorkingHours | None:
    if name is None:
        return None
    if name not in calendars:
        close = difflib.get_close_matches(name, sorted(calendars), n=1)
        raise doc.error(
            loc,
            f"working hours {preview(name)} are not declared",
            (f"did you mean {preview(close[0])}? " if close else "")
            + "declare them under escalation.working_hours (see docs/escalation.md)",
        )
    return calendars[name]


def _calendar(doc: SourceDocument, loc: PathKey, name: str, hours: v1.WorkingHours) -> WorkingHours:
    zone = hours.zone.strip()
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise doc.error((*loc, "zone"), f"unknown time zone {preview(hours.zone)}", ZONE_HINT) from None
    single = hours.from_ is not None or hours.to is not None or hours.days is not None
    if single and hours.windows is not None:
        raise doc.error(loc, "give either days/from/to or windows:, not both", "move the window into windows:")
    windows: list[HoursWindow] = []
    if hours.windows is not None:
        for i, w in enumerate(hours.windows):
            windows.append(_window(doc, (*loc, "windows", i), w.days, w.from_, w.to))
    else:
        if hours.from_ is None or hours.to is None:
            missing = "from" if hours.from_ is None else "to"
            raise doc.error(loc, f"working hours {preview(name)} need from: and to:", f"add {missing}: such as 09:00")
        windows.append(_window(doc, loc, hours.days or "mon-fri", hours.from_, hours.to))
    return WorkingHours(name=name, zone=zone, windows=tuple(windows))


def _window(doc: SourceDocument, loc: PathKey, days: str | Sequence[str], start: str, end: str) -> HoursWindow:
    begin, finish = _minutes(start), _minutes(end)
    if begin >= 24 * 60:
        raise doc.error((*loc, "from"), f"from: {preview(start)} is not a time of day", "use 00:00 to 23:59")
    if finish > 24 * 60:
        raise doc.error((*loc, "to"), f"to: {preview(end)} is not a time of day", "use 00:00 to 24:00")
    if begin == finish:
        raise doc.error((*loc, "to"), f"the window {start}-{end} is empty", "give to: a different time than from:")
    return HoursWindow(days=_days(doc, (*loc, "days"), days), start=begin, end=finish)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _days(doc: SourceDocument, loc: PathKey, days: str | Sequence[str]) -> frozenset[int]:
    """ISO weekdays (1 = Monday) from ``mon-fri``, ``sat,sun``, ``fri-mon`` (wrapping) or a list of those."""
    parts = [days] if isinstance(days, str) else list(days)
    out: set[int] = set()
    for index, part in enumerate(parts):
        at = loc if isinstance(days, str) else (*loc, index)
        for piece in part.replace(" ", "").lower().split(","):
            first, _, last = piece.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise doc.error(at, f"{preview(piece)} is not a day or a range of days", DAYS_HINT)
            a = DAY_NAMES.index(first)
            b = DAY_NAMES.index(last) if last else a
            span = (b - a) % 7
            out.update((a + k) % 7 + 1 for k in range(span + 1))
    return frozenset(out)


def _duration(doc: SourceDocument, loc: PathKey, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise doc.error(loc, exc.message, exc.hint) from None
