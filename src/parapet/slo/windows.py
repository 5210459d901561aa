"""Burn-rate windows and factors for any SLO period, from the policy in ``windows.yaml``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

import yaml

from parapet.spec.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from parapet.spec.model import SLO


@dataclass(frozen=True)
class WindowPair:
    severity: str  # page | ticket
    long: timedelta
    short: timedelta
    budget_percent: Decimal
    factor: Decimal  # burn rate that consumes budget_percent of the budget within `long`

    @property
    def long_name(self) -> str:
        return format_duration(self.long)

    @property
    def short_name(self) -> str:
        return format_duration(self.short)


@dataclass(frozen=True)
class Policy:
    reference_period: timedelta
    min_short: timedelta
    divisor: int
    ladder: tuple[timedelta, ...]
    max_raw: timedelta
    evaluation_interval: timedelta
    tiers: tuple[tuple[str, timedelta, timedelta, Decimal], ...]


@cache
def policy() -> Policy:
    raw = yaml.safe_load(files("parapet.slo").joinpath("windows.yaml").read_text(encoding="utf-8"))
    return Policy(
        reference_period=timedelta(days=int(raw["reference_period_days"])),
        min_short=parse_duration(raw["min_short_window"]),
        divisor=int(raw["short_window_divisor"]),
        ladder=tuple(parse_duration(x) for x in raw["ladder"]),
        max_raw=parse_duration(raw["max_raw_window"]),
        evaluation_interval=parse_duration(raw["evaluation_interval"]),
        tiers=tuple(
            (t["severity"], parse_duration(t["long"]), parse_duration(t["short"]), Decimal(str(t["budget_percent"])))
            for t in raw["tiers"]
        ),
    )


def _snap(target: timedelta, ladder: tuple[timedelta, ...]) -> timedelta:
    seconds = target.total_seconds()
    return min(ladder, key=lambda w: (abs(math.log(w.total_seconds() / seconds)), w))


@cache
def window_pairs(period_days: int) -> tuple[WindowPair, ...]:
    """The alert window pairs for an SLO period, in policy order, without duplicates."""
    pol = policy()
    period = timedelta(days=period_days)
    scale = period / pol.reference_period
    ladder = tuple(w for w in pol.ladder if w <= period) or (pol.min_short,)
    pairs: list[WindowPair] = []
    for severity, long_ref, short_ref, budget in pol.tiers:
        if scale == 1:
            long, short = long_ref, short_ref
        else:
            long = _snap(long_ref * scale, ladder)
            short = max(pol.min_short, _snap(long / pol.divisor, ladder))
        if short >= long:
            long = next((w for w in ladder if w > short), short * pol.divisor)
        factor = budget / Decimal(100) * Decimal(int(period.total_seconds())) / Decimal(int(long.total_seconds()))
        pair = WindowPair(severity, long, short, budget, factor.normalize())
        if not any(p.severity == severity and p.long == long and p.short == short for p in pairs):
            pairs.append(pair)
    return tuple(pairs)


@cache
def recorded_windows(period_days: int) -> tuple[timedelta, ...]:
    """Every window whose error ratio is recorded: 5m plus each short and long window, ascending."""
    out = {timedelta(minutes=5)}
    for pair in window_pairs(period_days):
        out.update((pair.short, pair.long))
    return tuple(sorted(out))


def evaluation_interval() -> timedelta:
    """The interval every SLO rule group is evaluated at (its ``interval:``)."""
    return policy().evaluation_interval


def is_raw(window: timedelta, timeslice: bool) -> bool:
    """Whether a window is computed from the raw series rather than from the recorded 5m rates."""
    if window == timedelta(minutes=5):
        return True
    return not timeslice and window <= policy().max_raw


def declared_pair(severity: str, factor: Decimal, long: timedelta, period_days: int) -> WindowPair:
    """A pair a spec declares itself: burn rate ``factor`` over ``long``, and the short window at 1/12 of it
    (the policy's divisor, as the SRE Workbook pairs them)."""
    period = timedelta(days=period_days)
    short = long / policy().divisor
    budget = factor * Decimal(int(long.total_seconds())) / Decimal(int(period.total_seconds())) * 100
    return WindowPair(severity, long, short, budget.normalize(), factor.normalize())


def slo_window_pairs(slo: SLO) -> tuple[WindowPair, ...]:
    """The alert window pairs of an SLO: the ones its spec declared, else the policy's for its period."""
    return slo.alert_windows or window_pairs(slo.period_days)


def slo_recorded_windows(slo: SLO) -> tuple[timedelta, ...]:
    """Every window whose error ratio the SLO's rules record: 5m plus each window of its pairs, ascending."""
    if not slo.alert_windows:
        return recorded_windows(slo.period_days)
    out = {timedelta(minutes=5)}
    for pair in slo.alert_windows:
        out.update((pair.short, pair.long))
    return tuple(sorted(out))
