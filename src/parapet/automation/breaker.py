"""The circuit breaker of a mitigation step, computed from ``parapet_tool_audits`` (so every node sees the same
state, and a restart forgets nothing): at most ``max_runs`` runs of a step per target per ``window``.

    state(conn, tool, target, breaker, now) -> BreakerState

Every run of a step is a tool audit (``tool`` = "runbook/step", ``action_key`` = the target the breaker
counts per, outcome succeeded / failed / timed_out / lost); a trip is a tool audit too (outcome
``breaker_tripped``). The breaker is

    open     after a trip, until a run that succeeded and then ``quiet`` with no other run after it: it never
             closes on time alone (kured #1182's lock did), and a failed run after the success keeps it open
    closed   otherwise; an automatic run that finds ``max_runs`` runs in the window (counted since the breaker
             last closed) trips it instead of running

While it is open, automatic runs are skipped and a manual run needs a reason (``parapet.automation.runs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from parapet.automation.executor import FAILED, SUCCEEDED, TIMED_OUT
from parapet.evidence.schema import tool_audits
from parapet.spec.model import Breaker

LOST: Final = "lost"  # the process running it stopped: it may or may not have acted
TRIPPED: Final = "breaker_tripped"
RUN_OUTCOMES: Final = (SUCCEEDED, FAILED, TIMED_OUT, LOST)


@dataclass(frozen=True)
class BreakerState:
    open: bool
    runs: int  # runs counted in the window (0 while open)
    max_runs: int
    tripped_at: datetime | None = None
    closes_at: datetime | None = None  # when it closes if nothing else runs (a success is needed first)

    def trips(self) -> bool:
        """Would an automatic run now trip it (closed, with the window's runs used up)?"""
        return not self.open and self.runs >= self.max_runs


def state(conn: Connection, tool: str, target: str, breaker: Breaker, now: datetime) -> BreakerState:
    mine = (tool_audits.c.tool == tool, tool_audits.c.action_key == target)
    since = now - breaker.window
    tripped_at = conn.execute(
        select(func.max(tool_audits.c.started_at)).where(*mine, tool_audits.c.outcome == TRIPPED)
    ).scalar()
    if tripped_at is not None:
        tripped_at = _aware(tripped_at)
        last = conn.execute(
            select(tool_audits.c.outcome, tool_audits.c.started_at, tool_audits.c.finished_at)
            .where(*mine, tool_audits.c.outcome.in_(RUN_OUTCOMES), tool_audits.c.started_at >= tripped_at)
            .order_by(tool_audits.c.started_at.desc(), tool_audits.c.id.desc())
            .limit(1)
        ).first()
        if last is None or last.outcome != SUCCEEDED:
            return BreakerState(True, 0, breaker.max_runs, tripped_at)
        closes_at = _aware(last.finished_at or last.started_at) + breaker.quiet
        if now < closes_at:
            return BreakerState(True, 0, breaker.max_runs, tripped_at, closes_at)
        since = max(since, closes_at)
    runs = conn.execute(
        select(func.count())
        .select_from(tool_audits)
        .where(*mine, tool_audits.c.outcome.in_(RUN_OUTCOMES), tool_audits.c.started_at >= since)
    ).scalar_one()
    return BreakerState(False, int(runs), breaker.max_runs, tripped_at)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
