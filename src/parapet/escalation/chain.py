"""An escalation chain: the policy chosen for an incident, frozen, and when each of its steps is due.

When an incident opens (or reopens), the first policy of the spec whose ``match`` fits it is chosen and
copied into its ``parapet_escalations`` row as a ``Chain`` (plain JSON): a step that runs later, in any
process, with any version of the spec, follows the chain the incident started with.

A chain's steps, in order, are ``(tier, repeat)``: each tier once (repeat 0), then the last tier again
``repeat_times`` times. When each is due:

    tier i      base + after_i, where base is when the incident opened (or reopened)
    repeat r    the previous step's due time + repeat_every
    both        never before the previous step's due time (tiers stay in order), and with working hours:
                outside: wait -> the next opening of the calendar; outside: skip -> the step is skipped

    select_policy(policies, facts) -> EscalationPolicy | None     the first policy that matches
    Chain.of(policy) / Chain.from_json(data) / chain.to_json()
    chain.following(base, after=None | (tier, repeat), previous_due=None) -> Next | None
    chain.successor(tier, repeat) -> (tier, repeat)    the step "escalate now" runs (hours ignored)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from parapet.escalation.hours import is_open, next_open
from parapet.spec.model import EscalationMatch, EscalationPolicy, HoursWindow, WorkingHours


@dataclass(frozen=True)
class Facts:
    """What selection reads of an incident."""

    service: str | None
    slo: str | None
    severity: str
    labels: Mapping[str, Any]


def matches(match: EscalationMatch | None, facts: Facts) -> bool:
    if match is None:
        return True
    if match.services and facts.service not in match.services:
        return False
    if match.slos and facts.slo not in match.slos:
        return False
    if match.severities and facts.severity.strip().lower() not in match.severities:
        return False
    return all(name in facts.labels and str(facts.labels[name]) in values for name, values in match.labels)


def select_policy(policies: tuple[EscalationPolicy, ...], facts: Facts) -> EscalationPolicy | None:
    """The first policy whose match fits the incident, or None (no escalation for it)."""
    return next((p for p in policies if matches(p.match, facts)), None)


@dataclass(frozen=True)
class Tier:
    after: timedelta
    notify: tuple[str, ...]
    hours: WorkingHours | None = None
    outside: str = "wait"


@dataclass(frozen=True)
class Next:
    """The next step to run: its tier and repeat, when it is due, and the steps skipped to reach it."""

    tier: int
    repeat: int
    due: datetime
    skipped: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Chain:
    policy: str
    tiers: tuple[Tier, ...]
    repeat_every: timedelta | None = None
    repeat_times: int = 0

    @classmethod
    def of(cls, policy: EscalationPolicy) -> Chain:
        return cls(
            policy=policy.name,
            tiers=tuple(Tier(t.after, t.notify, t.hours, t.outside) for t in policy.tiers),
            repeat_every=policy.repeat_every,
            repeat_times=policy.repeat_times if policy.repeat_every is not None else 0,
        )

    @property
    def last(self) -> int:
        return len(self.tiers) - 1

    def steps(self) -> list[tuple[int, int]]:
        """Every step of the chain, in order."""
        return [(i, 0) for i in range(len(self.tiers))] + [(self.last, r) for r in range(1, self.repeat_times + 1)]

    def following(
        self, base: datetime, after: tuple[int, int] | None = None, previous_due: datetime | None = None
    ) -> Next | None:
        """The step after ``after`` (None: the first step), due no earlier than ``previous_due``; None when
        the chain has no more steps to run."""
        steps = self.steps()
        index = 0 if after is None else steps.index(after) + 1
        skipped: list[tuple[int, int]] = []
        floor = previous_due
        for tier, repeat in steps[index:]:
            if repeat == 0:
                nominal = base + self.tiers[tier].after
            else:
                assert self.repeat_every is not None and floor is not None
                nominal = floor + self.repeat_every
            due = max(nominal, floor) if floor is not None else nominal
            hours = self.tiers[tier].hours
            if hours is not None and not is_open(hours, due):
                if self.tiers[tier].outside == "skip":
                    skipped.append((tier, repeat))
                    floor = due
                    continue
                due = next_open(hours, due)
            return Next(tier, repeat, due, tuple(skipped))
        return None

    def successor(self, tier: int, repeat: int) -> tuple[int, int]:
        """The step after (tier, repeat) when an operator escalates now: the next tier, else the last tier
        once more (past the declared repeats too: someone asked for it)."""
        if tier < self.last:
            return tier + 1, 0
        return self.last, repeat + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "tiers": [
                {
                    "after": int(t.after.total_seconds()),
                    "notify": list(t.notify),
                    "outside": t.outside,
                    "hours": None if t.hours is None else _hours_json(t.hours),
                }
                for t in self.tiers
            ],
            "repeat": None
            if self.repeat_every is None
            else {"every": int(self.repeat_every.total_seconds()), "times": self.repeat_times},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chain:
        repeat = data.get("repeat")
        return cls(
            policy=str(data["policy"]),
            tiers=tuple(
                Tier(
                    after=timedelta(seconds=int(t["after"])),
                    notify=tuple(str(n) for n in t["notify"]),
                    hours=None if t.get("hours") is None else _hours_from(t["hours"]),
                    outside=str(t.get("outside") or "wait"),
                )
                for t in data["tiers"]
            ),
            repeat_every=None if not repeat else timedelta(seconds=int(repeat["every"])),
            repeat_times=int(repeat["times"]) if repeat else 0,
        )


def _hours_json(hours: WorkingHours) -> dict[str, Any]:
    return {
        "name": hours.name,
        "zone": hours.zone,
        "windows": [{"days": sorted(w.days), "start": w.start, "end": w.end} for w in hours.windows],
    }


def _hours_from(data: Mapping[str, Any]) -> WorkingHours:
    return WorkingHours(
        name=str(data["name"]),
        zone=str(data["zone"]),
        windows=tuple(
            HoursWindow(days=frozenset(int(d) for d in w["days"]), start=int(w["start"]), end=int(w["end"]))
            for w in data["windows"]
        ),
    )
