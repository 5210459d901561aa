"""A mitigation run, from the click (or the automation) to its tool audit: exactly once, whichever process
or how many clicks.

    request_run(conn, …)   in the caller's transaction: lock the incident (its version bump), claim the
                           step in ``parapet_action_claims`` keyed by (incident, "mitigation",
                           "runbook/step:idempotency key") with INSERT … ON CONFLICT DO NOTHING, and only
                           when this call won the claim: enqueue the "mitigation" job (key
                           f"{incident}:{runbook/step}:{idempotency key}") and write "mitigation_requested".
                           A loser gets the existing claim (who, when, its status) to show. A claim whose
                           run never acted or did not succeed (skipped, failed, timed out, lost) can be taken
                           again (a conditional UPDATE: one winner); pending, running or succeeded: joined.
    execute(ctx, catalog)  the "mitigation" job's body (``parapet.automation.jobs``):
        T1  the claim pending -> running ("mitigation_started"); an automatic run first checks the per-incident
            override and the breaker (skipped, or tripped: a ``breaker_tripped`` audit and timeline entry,
            escalation one tier up), completing the job in that transaction
        run the callable in a child process with a hard timeout (``parapet.automation.executor``)
        T2  the tool audit (actor, parameters with secrets masked, outcome, start, finish, error), the timeline
            entry "mitigation_succeeded" / "_failed" / "_timed_out", the claim's outcome, and the job's fenced
            completion, in one transaction
       A job found with its claim already running was taken over after its process died mid-run: it is
       recorded as ``lost`` (it may or may not have acted) and never run a second time.

Actors: the user who confirmed, or ``system:parapet:automation`` for ``auto: true`` steps.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from parapet.automation import breaker as breakers
from parapet.automation import executor
from parapet.automation.catalog import Catalog
from parapet.automation.params import mask, read_secrets, redacted
from parapet.automation.templates import fill
from parapet.errors import UserError
from parapet.evidence import hooks
from parapet.evidence.schema import action_claims, incidents, timeline_entries, tool_audits
from parapet.evidence.store import Incident, IncidentNotFound
from parapet.spec.model import Runbook, Step
from parapet.spec.runbooks import MAX_TIMEOUT

MITIGATION: Final = "mitigation"  # the job kind and the claims' action_kind
SYSTEM_AUTOMATION: Final = "system:parapet:automation"
PENDING: Final = "pending"
RUNNING: Final = "running"
SKIPPED: Final = "skipped"
LOST: Final = breakers.LOST
RETAKEABLE: Final = (SKIPPED, executor.FAILED, executor.TIMED_OUT, LOST)
FINISHED: Final = (executor.SUCCEEDED, executor.FAILED, executor.TIMED_OUT, LOST, SKIPPED)
AUTOMATION_DISABLED: Final = "automation_disabled"
AUTOMATION_ENABLED: Final = "automation_enabled"
# A job's lease outlives its longest run: the spec refuses a timeout longer than MAX_TIMEOUT.
LEASE: Final = MAX_TIMEOUT + timedelta(minutes=5)
_KEY_LIMIT: Final = 255


class ReasonRequired(UserError):
    """A manual run while the step's breaker is open needs a reason."""


class Job(Protocol):
    @property
    def payload(self) -> Mapping[str, Any]: ...


class Context(Protocol):
    """What ``execute`` needs of the work engine's JobContext."""

    @property
    def job(self) -> Job: ...

    @property
    def engine(self) -> Engine: ...

    def now(self) -> datetime: ...

    def complete(self, conn: Connection) -> None: ...


@dataclass(frozen=True)
class Claim:
    id: int
    incident_id: int
    action_key: str
    claimed_by: str
    claimed_at: datetime
    status: str
    finished_at: datetime | None
    action_kind: str = MITIGATION

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class Requested:
    won: bool  # this call claimed the run (False: someone else's claim is returned)
    claim: Claim


def step_ref(runbook: Runbook | str, step: Step | str) -> str:
    r = runbook if isinstance(runbook, str) else runbook.name
    s = step if isinstance(step, str) else step.name
    return f"{r}/{s}"


def bounded(value: str, limit: int = _KEY_LIMIT) -> str:
    """A key that fits its column: a long one keeps its start and gains a digest of the whole."""
    if len(value) <= limit:
        return value
    return value[: limit - 17] + "#" + hashlib.sha256(value.encode()).hexdigest()[:16]


def claim_key(runbook: Runbook, step: Step, incident: Incident, params: Mapping[str, Any]) -> str:
    return bounded(f"{step_ref(runbook, step)}:{fill(step.idempotency, incident, params)}")


def target_of(step: Step, incident: Incident) -> str:
    return bounded(fill(step.breaker.target, incident))


def _insert_ignoring_conflict(conn: Connection, values: Mapping[str, Any]) -> int | None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(action_claims)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["incident_id", "action_kind", "action_key"])
        .returning(action_claims.c.id)
    )
    found = conn.execute(statement).scalar()
    return int(found) if found is not None else None


def lock_incident(conn: Connection, incident_id: int, now: datetime) -> Incident:
    """Bump the incident's version: it locks the row (requests for one incident queue here) and marks the write."""
    row = conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(version=incidents.c.version + 1, updated_at=now)
        .returning(*incidents.c)
    ).first()
    if row is None:
        raise IncidentNotFound(f"incident {incident_id} does not exist", hint="it may have been archived; check the id")
    return Incident(**dict(row._mapping))


def entry(
    conn: Connection,
    incident_id: int,
    kind: str,
    actor: str,
    at: datetime,
    message: str | None,
    data: Mapping[str, Any],
) -> int:
    """One timeline entry, emitted to the hooks' subscribers in this transaction; its id."""
    changes = hooks.write_entries(
        conn,
        [{"incident_id": incident_id, "kind": kind, "actor": actor, "at": at, "message": message, "data": dict(data)}],
    )
    return int(changes[0].entry_id or 0)


def get_claim(conn: Connection, incident_id: int, key: str) -> Claim | None:
    row = conn.execute(
        select(action_claims).where(
            action_claims.c.incident_id == incident_id,
            action_claims.c.action_kind == MITIGATION,
            action_claims.c.action_key == key,
        )
    ).first()
    return Claim(**dict(row._mapping)) if row is not None else None


def claim_by_id(conn: Connection, claim_id: int) -> Claim | None:
    row = conn.execute(
        select(action_claims).where(action_claims.c.id == claim_id, action_claims.c.action_kind == MITIGATION)
    ).first()
    return Claim(**dict(row._mapping)) if row is not None else None


def request_run(
    conn: Connection,
    incident: Incident,
    runbook: Runbook,
    step: Step,
    *,
    actor: str,
    params: Mapping[str, Any],
    now: datetime,
    reason: str | None = None,
    automatic: bool = False,
    again: int | None = None,
    enqueue: Callable[..., bool] | None = None,
) -> Requested:
    """Claim and enqueue one run (see the module docstring); ``params`` are the validated visible values."""
    if enqueue is None:
        from parapet.work import enqueue as enqueue_job

        enqueue = enqueue_job
    key = claim_key(runbook, step, incident, params)
    if not automatic:
        current = breakers.state(conn, step_ref(runbook, step), target_of(step, incident), step.breaker, now)
        if current.open and not (reason or "").strip():
            raise ReasonRequired(
                f"the breaker of {step_ref(runbook, step)} is open",
                hint="say why you run it anyway: a manual run while the breaker is open needs a reason",
            )
    claim_id = _insert_ignoring_conflict(
        conn,
        {
            "incident_id": incident.id,
            "action_kind": MITIGATION,
            "action_key": key,
            "claimed_by": actor,
            "claimed_at": now,
            "status": PENDING,
        },
    )
    job_key = bounded(f"{incident.id}:{key}")
    if claim_id is None:
        existing = get_claim(conn, incident.id, key)
        assert existing is not None  # a conflict means the row exists (claims are never deleted alone)
        claim_id = _retake(conn, existing, actor, now, again=again)
        if claim_id is None:
            return Requested(False, existing)
        job_key = bounded(f"{incident.id}:{key}@{now.isoformat()}")  # the first run's job is done: a new one
    ref = step_ref(runbook, step)
    payload = {
        "incident": incident.id,
        "runbook": runbook.name,
        "step": step.name,
        "params": dict(params),
        "actor": actor,
        "reason": reason,
        "automatic": automatic,
        "claim": key,
    }
    enqueue(conn, MITIGATION, job_key, due_at=now, payload=payload, max_attempts=3)
    entry(
        conn,
        incident.id,
        "mitigation_requested",
        actor,
        now,
        f"{step.title or ref} requested" + (f": {reason}" if reason else ""),
        {
            "runbook": runbook.name,
            "step": step.name,
            "claim": claim_id,
            "key": key,
            "automatic": automatic,
            "parameters": redacted(step, params),
            "reason": reason,
        },
    )
    claim = Claim(claim_id, incident.id, key, actor, now, PENDING, None)
    return Requested(True, claim)


def request(
    engine: Engine,
    incident_id: int,
    runbook: Runbook,
    step: Step,
    *,
    actor: str,
    given: Mapping[str, Any],
    now: datetime,
    reason: str | None = None,
    again: int | None = None,
) -> Requested:
    """A person's request (the UI's confirm form): parameters validated over the incident, then one transaction
    that locks the incident and claims the run. Raises ParameterErrors, ReasonRequired or IncidentNotFound."""
    from parapet.automation.params import validate_values

    with engine.begin() as conn:
        locked = lock_incident(conn, incident_id, now)
        values = validate_values(step, given, locked)  # ParameterErrors rolls the lock back
        return request_run(conn, locked, runbook, step, actor=actor, params=values, now=now, reason=reason, again=again)


def _retake(conn: Connection, claim: Claim, actor: str, now: datetime, *, again: int | None = None) -> int | None:
    """Claim again a run that never acted or did not succeed (skipped, failed, timed out, lost), or one that
    succeeded when the person saw it finished and asked to run it again (``again`` = its claim id): one caller
    wins the conditional UPDATE. Pending and running runs are joined, never repeated."""
    statuses = (*RETAKEABLE, executor.SUCCEEDED) if again == claim.id else RETAKEABLE
    found = conn.execute(
        update(action_claims)
        .where(action_claims.c.id == claim.id, action_claims.c.status.in_(statuses))
        .values(status=PENDING, claimed_by=actor, claimed_at=now, finished_at=None)
        .returning(action_claims.c.id)
    ).scalar()
    return int(found) if found is not None else None


def automation_disabled(conn: Connection, incident_id: int, runbook: str, step: str) -> str | None:
    """Who disabled automatic runs of this step (or of every step: step "*") on this incident, if it is off."""
    rows = conn.execute(
        select(timeline_entries.c.kind, timeline_entries.c.actor, timeline_entries.c.data)
        .where(
            timeline_entries.c.incident_id == incident_id,
            timeline_entries.c.kind.in_((AUTOMATION_DISABLED, AUTOMATION_ENABLED)),
        )
        .order_by(timeline_entries.c.at, timeline_entries.c.id)
    ).all()
    by: str | None = None
    for row in rows:
        data = row.data or {}
        if data.get("runbook") not in (runbook, "*") or data.get("step") not in (step, "*"):
            continue
        by = row.actor if row.kind == AUTOMATION_DISABLED else None
    return by


def set_automation(
    engine: Engine, incident_id: int, runbook: str, step: str, *, enabled: bool, actor: str, now: datetime
) -> None:
    """The operator's override: automatic runs of a step on one incident off (or back on)."""
    with engine.begin() as conn:
        lock_incident(conn, incident_id, now)
        entry(
            conn,
            incident_id,
            AUTOMATION_ENABLED if enabled else AUTOMATION_DISABLED,
            actor,
            now,
            f"automatic runs of {runbook}/{step} {'enabled' if enabled else 'disabled'} on this incident",
            {"runbook": runbook, "step": step},
        )


Runner = Callable[..., executor.Outcome]


def execute(ctx: Context, catalog: Catalog, *, cwd: str | None = None, runner: Runner = executor.run) -> dict[str, Any]:
    """The "mitigation" job (see the module docstring); returns the job's result. ``runner`` runs the callable
    (``executor.run``; benchmarks/mitigation.py passes one that returns at once, to time Parapet's own part)."""
    payload = ctx.job.payload
    incident_id = int(payload["incident"])
    key = str(payload["claim"])
    actor = str(payload["actor"])
    automatic = bool(payload.get("automatic"))
    found = catalog.step(str(payload["runbook"]), str(payload["step"]))
    started = ctx.now()
    with ctx.engine.begin() as conn:
        claim = get_claim(conn, incident_id, key)
        if claim is None or claim.finished:
            ctx.complete(conn)
            return {"status": claim.status if claim else "missing"}
        incident = lock_incident(conn, incident_id, started)
        if found is None:
            _finish(conn, claim, SKIPPED, started)
            entry(
                conn,
                incident_id,
                "mitigation_skipped",
                actor,
                started,
                f"{payload['runbook']}/{payload['step']} is no longer in the runbooks",
                {"runbook": payload["runbook"], "step": payload["step"], "claim": claim.id},
            )
            ctx.complete(conn)
            return {"status": SKIPPED}
        runbook, step = found
        ref = step_ref(runbook, step)
        target = target_of(step, incident)
        data = {"runbook": runbook.name, "step": step.name, "claim": claim.id, "automatic": automatic}
        if claim.status == RUNNING:
            # taken over after the process running it died: never run twice, record what is known
            audit_id = _audit(
                conn,
                incident_id,
                None,
                ref,
                target,
                actor,
                step,
                payload,
                LOST,
                claim.claimed_at,
                started,
                "the process running it stopped before recording an outcome; it may or may not have acted",
            )
            entry(
                conn,
                incident_id,
                "mitigation_failed",
                actor,
                started,
                f"{step.title}: outcome unknown (lost)",
                {**data, "outcome": LOST, "audit": audit_id},
            )
            _finish(conn, claim, LOST, started)
            ctx.complete(conn)
            return {"status": LOST}
        if automatic:
            refused = _automatic_refused(conn, incident, runbook, step, ref, target, started, claim)
            if refused is not None:
                ctx.complete(conn)
                return {"status": SKIPPED, "reason": refused}
        conn.execute(update(action_claims).where(action_claims.c.id == claim.id).values(status=RUNNING))
        entry(
            conn,
            incident_id,
            "mitigation_started",
            actor,
            started,
            f"{step.title} started",
            {**data, "parameters": redacted(step, payload.get("params") or {})},
        )
    params = dict(payload.get("params") or {})
    try:
        secrets = read_secrets(step)
    except UserError as exc:
        outcome = executor.Outcome(executor.FAILED, error=exc.message)
        secrets = {}
    else:
        outcome = runner(step.python, params, timeout_s=step.timeout.total_seconds(), secrets=secrets, cwd=cwd)
    finished = ctx.now()
    if finished <= started:
        finished = started + timedelta(seconds=outcome.duration_s)
    with ctx.engine.begin() as conn:
        lock_incident(conn, incident_id, finished)
        kind = f"mitigation_{outcome.outcome}"
        message = f"{step.title}: {outcome.outcome.replace('_', ' ')}" + (f": {outcome.error}" if outcome.error else "")
        entry_id = entry(
            conn,
            incident_id,
            kind,
            actor,
            finished,
            mask(message, secrets.values()),
            {
                **data,
                "outcome": outcome.outcome,
                "duration_s": round(outcome.duration_s, 3),
                "output": outcome.output[-2000:],
                "result": outcome.result if _small(outcome.result) else None,
            },
        )
        audit_id = _audit(
            conn,
            incident_id,
            entry_id,
            ref,
            target,
            actor,
            step,
            payload,
            outcome.outcome,
            started,
            finished,
            outcome.error,
        )
        _finish(conn, claim, outcome.outcome, finished)
        ctx.complete(conn)
    return {"status": outcome.outcome, "audit": audit_id}


def _small(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) < 500)


def _finish(conn: Connection, claim: Claim, status: str, at: datetime) -> None:
    conn.execute(update(action_claims).where(action_claims.c.id == claim.id).values(status=status, finished_at=at))


def _audit(
    conn: Connection,
    incident_id: int,
    entry_id: int | None,
    ref: str,
    target: str,
    actor: str,
    step: Step,
    payload: Mapping[str, Any],
    outcome: str,
    started: datetime,
    finished: datetime | None,
    error: str | None,
) -> int:
    parameters = redacted(step, payload.get("params") or {})
    if payload.get("reason"):
        parameters = {**parameters, "_reason": payload["reason"]}
    return int(
        conn.execute(
            insert(tool_audits)
            .values(
                incident_id=incident_id,
                timeline_entry_id=entry_id,
                tool=ref,
                action_key=target,
                actor=actor,
                parameters=parameters,
                outcome=outcome,
                started_at=started,
                finished_at=finished,
                error=error,
            )
            .returning(tool_audits.c.id)
        ).scalar_one()
    )


def _automatic_refused(
    conn: Connection,
    incident: Incident,
    runbook: Runbook,
    step: Step,
    ref: str,
    target: str,
    now: datetime,
    claim: Claim,
) -> str | None:
    """Why an automatic run must not run now (and what that wrote), or None to run it."""
    data = {"runbook": runbook.name, "step": step.name, "claim": claim.id, "automatic": True}
    disabled_by = automation_disabled(conn, incident.id, runbook.name, step.name)
    if disabled_by is not None:
        _finish(conn, claim, SKIPPED, now)
        entry(
            conn,
            incident.id,
            "mitigation_skipped",
            SYSTEM_AUTOMATION,
            now,
            f"{step.title}: automatic runs disabled on this incident by {disabled_by}",
            {**data, "reason": "disabled"},
        )
        return "disabled"
    if conn.dialect.name == "postgresql":
        # one decision at a time per (step, target), across incidents and nodes
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"parapet-breaker:{ref}:{target}"})
    current = breakers.state(conn, ref, target, step.breaker, now)
    if current.trips():
        entry_id = entry(
            conn,
            incident.id,
            "breaker_tripped",
            SYSTEM_AUTOMATION,
            now,
            f"{step.title}: {current.runs} runs of {ref} for {target} within {_span(step.breaker.window)}; "
            "automatic runs stop until a run succeeds and a quiet period passes",
            {**data, "target": target, "runs": current.runs, "max_runs": step.breaker.max_runs},
        )
        _audit(
            conn,
            incident.id,
            entry_id,
            ref,
            target,
            SYSTEM_AUTOMATION,
            step,
            {},
            breakers.TRIPPED,
            now,
            now,
            f"{current.runs} runs within {_span(step.breaker.window)}: automatic runs stop",
        )
        _finish(conn, claim, SKIPPED, now)
        escalate(conn, incident.id, reason=f"breaker of {ref} tripped", now=now)
        return "breaker_tripped"
    if current.open:
        _finish(conn, claim, SKIPPED, now)
        entry(
            conn,
            incident.id,
            "mitigation_skipped",
            SYSTEM_AUTOMATION,
            now,
            f"{step.title}: the breaker is open; run it by hand (with a reason) if it should run",
            {**data, "reason": "breaker_open", "target": target},
        )
        return "breaker_open"
    return None


def escalate(conn: Connection, incident_id: int, *, reason: str, now: datetime) -> None:
    """Jump the incident's escalation one tier (``parapet.escalation.escalate_now``). Without the escalation part,
    or when the incident has no escalation chain (no policy matched it), the request is written to the timeline
    ("escalation_requested", with why it could not jump) for a person to act on."""
    try:
        escalation = importlib.import_module("parapet.escalation")
    except ImportError:
        escalation = None
    escalate_now = getattr(escalation, "escalate_now", None)
    why = "the escalation part is not installed"
    if escalate_now is not None:
        try:
            escalate_now(conn, incident_id, actor=SYSTEM_AUTOMATION, reason=reason, now=now)
            return
        except UserError as exc:  # no chain for this incident, or it cannot escalate now
            why = exc.message
    entry(
        conn,
        incident_id,
        "escalation_requested",
        SYSTEM_AUTOMATION,
        now,
        f"{reason}: escalation asked to jump a tier ({why})",
        {"reason": reason, "why": why},
    )


def _span(delta: timedelta) -> str:
    from parapet.spec.durations import format_duration

    return format_duration(delta)
