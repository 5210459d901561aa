"""Escalation: who hears about an incident, and when, until someone acknowledges it.

    parapet.yaml escalation:  ─ spec.escalation (policies, tiers, repeat, working hours, match)
            │ install(spec): the policies this process starts chains with; subscribes to the incident hooks
            ▼
    incident opened ── hooks, same transaction ──▶ parapet_escalations row (chain frozen, epoch 1)
                                                   + job "escalate" incident:epoch:tier:repeat, due at tier 0
    job due ── any process's worker ──▶ steps.run_step: where (epoch, tier, repeat) still match: timeline
                                        "escalated", a "notify" outbox job per target, the next step's job,
                                        and the job's completion, in one transaction
    acknowledged / resolved ── hooks ──▶ epoch + 1, chain stopped (every scheduled or running step fenced)
    reopened ── hooks ──▶ epoch + 1, chain again from its first tier
    escalate_now(conn, id, actor=…, reason=…) ──▶ the next tier now (UI button, mitigation breaker)

Modules: ``chain`` (selection, the schedule, working hours applied), ``hours`` (zones and daylight saving),
``core`` (the store side and the fencing argument), ``steps`` (the job handler).

Errors (UserError, with a hint):

    EscalationError
    ├── NoEscalation       the incident has no chain: no policy matched it
    ├── CannotEscalate     the incident is resolved, or does not exist
    └── StaleEscalation    the chain moved on since the caller read it (escalate_now's expected_epoch)
"""

from __future__ import annotations

from parapet.escalation.core import (
    ENTRY_KIND,
    KIND,
    NOTIFY_KIND,
    CannotEscalate,
    EscalationError,
    NoEscalation,
    Outcome,
    StaleEscalation,
    Status,
    escalate_now,
    execute_step,
    install,
    status,
    still_current,
)

__all__ = [
    "ENTRY_KIND",
    "KIND",
    "NOTIFY_KIND",
    "CannotEscalate",
    "EscalationError",
    "NoEscalation",
    "Outcome",
    "StaleEscalation",
    "Status",
    "escalate_now",
    "execute_step",
    "install",
    "status",
    "still_current",
]
