"""Escalation in the store: the fencing epoch, the steps as jobs, and "escalate now".

    install(spec)                   this process's policies (create_app and the worker call it)
    on_changes(conn, changes)       the hooks subscriber (parapet.evidence.hooks), in the transaction of the
                                    change: "opened" chooses a policy and schedules its first step;
                                    "acknowledged" and "resolved" bump the epoch and stop the chain;
                                    "reopened" bumps the epoch and starts the chain again from its first tier
    execute_step(conn, …)           one step, from its job (kind "escalate", key incident:epoch:tier:repeat):
                                    writes only where (epoch, next tier, next repeat) still match the row
    escalate_now(conn, id, …)       an operator or the mitigation breaker: run the next tier now
    still_current(conn, id, epoch)  for a notifier about to page: no acknowledge/resolve/reopen since
    status(conn, id, now, …)        what the incident page shows

Why nothing is notified after an acknowledgement commits. The acknowledgement's transaction updates the
incident row, then (hooks, same transaction) this row's epoch. A step's transaction first runs
``UPDATE parapet_escalations … WHERE epoch = :epoch AND next_tier = :tier AND next_repeat = :repeat``: on
PostgreSQL the two updates of the one row serialise (READ COMMITTED re-checks the WHERE against the row the
acknowledgement committed, so a step that waited for it matches nothing); on SQLite the writers serialise on
the database. A step that matched nothing writes nothing and completes its job; one that matched writes its
timeline entry, its "notify" outbox jobs, the next step's job and its job's completion in the same
transaction, so a step runs exactly once however many processes claim it, and is either entirely before
the acknowledgement or not at all. The notify jobs carry the epoch: a notifier re-checks ``still_current``
before it pages (a step that committed just before the acknowledgement may be delivered after it).

Lock order, so an acknowledgement and a step never deadlock on PostgreSQL: a command takes the incident row,
then the escalation row; a step takes only the escalation row (its timeline entry's foreign key takes a KEY
SHARE lock on the incident, which an incident update does not conflict with).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from parapet.errors import UserError
from parapet.escalation.chain import Chain, Facts, Next, select_policy
from parapet.evidence import hooks
from parapet.evidence.schema import (
    ESCALATION_ACTIVE,
    ESCALATION_DONE,
    ESCALATION_STOPPED,
    STATE_ACKNOWLEDGED,
    STATE_OPEN,
    escalations,
    incidents,
)
from parapet.spec.model import EscalationSettings, NotifierSettings, Spec
from parapet.work import cancel, enqueue

KIND: Final = "escalate"  # the job kind of a step
NOTIFY_KIND: Final = "notify"  # the outbox job a step writes per target (parapet.notify delivers it)
ENTRY_KIND: Final = "escalated"
SYSTEM_ESCALATION: Final = "system:parapet:escalation"
SUBSCRIBER: Final = "escalation"
STOPPING: Final = frozenset({"acknowledged", "resolved"})

_settings = EscalationSettings()
_targets: dict[str, NotifierSettings] = {}  # the spec's notifier targets, by name


class EscalationError(UserError):
    """An escalation command was refused; nothing was changed."""


class NoEscalation(EscalationError):
    """The incident has no escalation chain (no policy matched it)."""


class CannotEscalate(EscalationError):
    """The incident is resolved (or gone): there is no one left to call."""


class StaleEscalation(EscalationError):
    """The chain moved on (escalated, acknowledged, reopened) since the caller looked at it."""


def step_key(incident_id: int, epoch: int, tier: int, repeat: int) -> str:
    return f"{incident_id}:{epoch}:{tier}:{repeat}"


def install(spec: Spec | None) -> None:
    """Use ``spec``'s policies for incidents that open from now on in this process, and subscribe to the
    incident hooks (idempotent: create_app and the worker call it, ``parapet.work.registry.SUBSCRIBERS``).
    Without policies it stays subscribed: chains already in the store are still fenced by an acknowledgement."""
    global _settings, _targets
    _settings = spec.escalation if spec is not None else EscalationSettings()
    _targets = {n.name: n for n in spec.notifiers} if spec is not None else {}
    subscribe()


def subscribe() -> None:
    """Subscribe to the incident hooks with the policies configured so far (none: chains already in the store
    are still stopped by an acknowledgement and restarted by a reopen). Every worker does this when it loads
    the escalation handler, so a resolve by the reconciler fences the chain too."""
    hooks.subscribe(SUBSCRIBER, on_changes)


def settings() -> EscalationSettings:
    return _settings


# -- the hooks subscriber ---------------------------------------------------------------------------------


def on_changes(conn: Connection, changes: Sequence[hooks.Change]) -> None:
    """Start, stop and restart chains as incidents open, are acknowledged or resolved, and reopen (in order;
    the intake's bulk writes come as one batch, handled with a statement or two per kind)."""
    opened = [c for c in changes if c.kind == "opened"]
    if opened and _settings.policies:
        _start(conn, opened)
    stopping: list[hooks.Change] = []
    for change in changes:
        if change.kind in STOPPING:
            stopping.append(change)
        elif change.kind == "reopened":
            _stop(conn, stopping)
            stopping = []
            _restart(conn, int(change.incident_id), change.at)
    _stop(conn, stopping)


def _facts(conn: Connection, ids: Iterable[int]) -> dict[int, Facts]:
    rows = conn.execute(
        select(incidents.c.id, incidents.c.service, incidents.c.slo, incidents.c.severity, incidents.c.labels).where(
            incidents.c.id.in_(sorted(set(ids)))
        )
    ).all()
    return {int(r.id): Facts(r.service, r.slo, r.severity, r.labels or {}) for r in rows}


def _start(conn: Connection, opened: Sequence[hooks.Change]) -> None:
    facts = _facts(conn, (c.incident_id for c in opened))
    rows: list[dict[str, Any]] = []
    for change in opened:
        found = facts.get(int(change.incident_id))
        policy = select_policy(_settings.policies, found) if found is not None else None
        if policy is None:
            continue
        chain = Chain.of(policy)
        nxt = chain.following(change.at)
        rows.append(_fresh_row(int(change.incident_id), chain, 1, change.at, nxt))
    if not rows:
        return
    conn.execute(insert(escalations), rows)
    for row in rows:
        _schedule(conn, row["incident_id"], row["epoch"], row["next_tier"], row["next_repeat"], row["next_at"])


def _fresh_row(incident_id: int, chain: Chain, epoch: int, at: datetime, nxt: Next | None) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "policy": chain.policy,
        "chain": chain.to_json(),
        "epoch": epoch,
        "state": ESCALATION_ACTIVE if nxt is not None else ESCALATION_DONE,
        "base_at": at,
        "tier": -1,
        "repeat": 0,
        "last_at": None,
        "next_tier": nxt.tier if nxt else None,
        "next_repeat": nxt.repeat if nxt else None,
        "next_at": nxt.due if nxt else None,
        "executed": 0,
        "updated_at": at,
    }


def _schedule(
    conn: Connection, incident_id: int, epoch: int, tier: int | None, repeat: int | None, due: datetime | None
) -> None:
    if tier is None or repeat is None or due is None:
        return
    payload = {"incident_id": incident_id, "epoch": epoch, "tier": tier, "repeat": repeat}
    enqueue(conn, KIND, step_key(incident_id, epoch, tier, repeat), due_at=due, payload=payload)


def _write_lock(conn: Connection, incident_id: int) -> None:
    """On SQLite, begin the transaction with a write: the database's one write lock is then held before
    anything is read (Python's sqlite3 would run a first SELECT outside the transaction)."""
    if conn.dialect.name == "sqlite":
        e = escalations.c
        conn.execute(update(escalations).where(e.incident_id == incident_id).values(epoch=e.epoch))


def _locked_row(conn: Connection, incident_id: int) -> Any:
    return conn.execute(select(escalations).where(escalations.c.incident_id == incident_id).with_for_update()).first()


def _stop(conn: Connection, changes: Sequence[hooks.Change]) -> None:
    """Fence these incidents' chains: a bumped epoch makes every step already scheduled or running write
    nothing (the rows are locked first, as a step's update would, so the pending job read is the current one)."""
    if not changes:
        return
    ids = sorted({int(c.incident_id) for c in changes})
    rows = conn.execute(select(escalations).where(escalations.c.incident_id.in_(ids)).with_for_update()).all()
    if not rows:
        return
    conn.execute(
        update(escalations)
        .where(escalations.c.incident_id.in_([r.incident_id for r in rows]))
        .values(
            epoch=escalations.c.epoch + 1,
            state=ESCALATION_STOPPED,
            next_tier=None,
            next_repeat=None,
            next_at=None,
            updated_at=max(c.at for c in changes),
        )
    )
    for row in rows:
        _cancel_pending(conn, int(row.incident_id), row)


def _cancel_pending(conn: Connection, incident_id: int, row: Any) -> None:
    if row.next_tier is not None and row.next_repeat is not None:
        cancel(conn, KIND, step_key(incident_id, int(row.epoch), int(row.next_tier), int(row.next_repeat)))


def _restart(conn: Connection, incident_id: int, at: datetime) -> None:
    """A reopened incident escalates again from the first tier of the policy that fits it now."""
    row = _locked_row(conn, incident_id)
    found = _facts(conn, [incident_id]).get(incident_id)
    policy = select_policy(_settings.policies, found) if found is not None else None
    if row is None:
        if policy is not None:
            chain = Chain.of(policy)
            fresh = _fresh_row(incident_id, chain, 1, at, chain.following(at))
            conn.execute(insert(escalations).values(**fresh))
            _schedule(conn, incident_id, 1, fresh["next_tier"], fresh["next_repeat"], fresh["next_at"])
        return
    _cancel_pending(conn, incident_id, row)
    epoch = int(row.epoch) + 1
    if policy is None:
        values = {"epoch": epoch, "state": ESCALATION_STOPPED, "next_tier": None, "next_repeat": None, "next_at": None}
        conn.execute(
            update(escalations).where(escalations.c.incident_id == incident_id).values(updated_at=at, **values)
        )
        return
    chain = Chain.of(policy)
    fresh = _fresh_row(incident_id, chain, epoch, at, chain.following(at))
    fresh.pop("incident_id")
    fresh["executed"] = row.executed
    conn.execute(update(escalations).where(escalations.c.incident_id == incident_id).values(**fresh))
    _schedule(conn, incident_id, epoch, fresh["next_tier"], fresh["next_repeat"], fresh["next_at"])


# -- steps ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a step did: ran (and notified ``targets``), or was fenced (the chain moved on without it)."""

    ran: bool
    tier: int
    repeat: int
    epoch: int
    targets: tuple[str, ...] = ()
    entry_id: int | None = None
    late_s: float | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ran": self.ran, "tier": self.tier, "repeat": self.repeat, "epoch": self.epoch}
        if self.ran:
            out.update(targets=list(self.targets), entry_id=self.entry_id, late_s=self.late_s)
        else:
            out["fenced"] = True
        return out


def execute_step(conn: Connection, incident_id: int, *, epoch: int, tier: int, repeat: int, now: datetime) -> Outcome:
    """Run step (tier, repeat) of epoch ``epoch``, if the chain is still waiting for exactly that step."""
    e = escalations.c
    row = conn.execute(
        update(escalations)
        .where(
            e.incident_id == incident_id,
            e.epoch == epoch,
            e.state == ESCALATION_ACTIVE,
            e.next_tier == tier,
            e.next_repeat == repeat,
        )
        .values(tier=tier, repeat=repeat, last_at=now, executed=e.executed + 1, updated_at=now)
        .returning(e.chain, e.base_at, e.next_at, e.policy)
    ).first()
    if row is None:
        return Outcome(False, tier, repeat, epoch)
    chain = Chain.from_json(row.chain)
    due: datetime = row.next_at
    nxt = chain.following(row.base_at, (tier, repeat), due)
    conn.execute(
        update(escalations)
        .where(e.incident_id == incident_id)
        .values(
            state=ESCALATION_ACTIVE if nxt is not None else ESCALATION_DONE,
            next_tier=nxt.tier if nxt else None,
            next_repeat=nxt.repeat if nxt else None,
            next_at=nxt.due if nxt else None,
        )
    )
    entry_id, targets = _notify(
        conn, incident_id, chain, epoch, tier, repeat, actor=SYSTEM_ESCALATION, now=now, due=due, reason=None
    )
    if nxt is not None:
        _schedule(conn, incident_id, epoch, nxt.tier, nxt.repeat, nxt.due)
    return Outcome(True, tier, repeat, epoch, targets, entry_id, round((now - due).total_seconds(), 3))


def _notify(
    conn: Connection,
    incident_id: int,
    chain: Chain,
    epoch: int,
    tier: int,
    repeat: int,
    *,
    actor: str,
    now: datetime,
    due: datetime | None,
    reason: str | None,
) -> tuple[int, tuple[str, ...]]:
    """The step's effect: its timeline entry "escalated" (through the hooks, like every entry) and one
    "notify" outbox job per target of the tier (``parapet.notify.outbox.enqueue_notification``, which knows
    each kind's keys), all in the caller's transaction. Each carries the epoch: the notifier drops it if the
    chain moved on (acknowledged, resolved, reopened, escalated again) before it is delivered."""
    targets = chain.tiers[tier].notify
    data: dict[str, Any] = {"policy": chain.policy, "tier": tier, "repeat": repeat, "epoch": epoch}
    data["targets"] = list(targets)
    if due is not None:
        data["due_at"] = due.isoformat()
    if reason:
        data["reason"] = reason
    repeated = f" (repeat {repeat})" if repeat else ""
    message = f"escalated to tier {tier}{repeated} of {chain.policy}: {', '.join(targets)}"
    if reason:
        message += f" ({reason})"
    row = {"incident_id": incident_id, "kind": ENTRY_KIND, "actor": actor, "at": now, "message": message, "data": data}
    entry_id = hooks.write_entries(conn, [row])[0].entry_id
    assert entry_id is not None
    for name in targets:
        target = _targets.get(name)
        if target is not None:
            from parapet.notify.outbox import enqueue_notification

            enqueue_notification(
                conn, target, incident_id, ENTRY_KIND, seq=entry_id, at=now, actor=actor, tier=tier, epoch=epoch
            )
            continue
        # a target this process's spec does not declare (parapet doctor PAR206): the job records the page that
        # was due, and the "notify" handler skips it unless the process that runs it knows the target
        payload = {
            "incident_id": incident_id,
            "target": name,
            "event": ENTRY_KIND,
            "actor": actor,
            "tier": tier,
            "epoch": epoch,
        }
        enqueue(conn, NOTIFY_KIND, f"{name}:{incident_id}:{entry_id}", due_at=now, payload=payload)
    return entry_id, targets


def escalate_now(
    conn: Connection,
    incident_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
    expected_epoch: int | None = None,
) -> int:
    """Run the incident's next tier now, whatever its schedule (working hours too), and return that tier.

    In the caller's transaction. The epoch is bumped first, so the step that was scheduled writes nothing;
    an open incident's chain goes on from the new tier, an acknowledged one's stays stopped (the
    acknowledgement stands: this only calls more people). At the last tier, the last tier is notified again.
    Raises NoEscalation (no chain), CannotEscalate (resolved or gone) or, with ``expected_epoch`` (the epoch
    a form was rendered at), StaleEscalation when the chain moved on since."""
    now = now or datetime.now(UTC)
    _write_lock(conn, incident_id)
    state = conn.execute(
        select(incidents.c.state).where(incidents.c.id == incident_id).with_for_update()
    ).scalar_one_or_none()
    row = _locked_row(conn, incident_id)
    if state is None:
        raise CannotEscalate(f"incident {incident_id} does not exist", hint="it may have been archived")
    if state not in (STATE_OPEN, STATE_ACKNOWLEDGED):
        raise CannotEscalate(
            f"cannot escalate incident {incident_id}: it is {state}", hint="reopen it first, if it is not over"
        )
    if row is None:
        raise NoEscalation(
            f"incident {incident_id} has no escalation chain",
            hint="no policy of escalation.policies matched it when it opened (see docs/escalation.md)",
        )
    if expected_epoch is not None and int(row.epoch) != expected_epoch:
        raise StaleEscalation(
            f"the escalation of incident {incident_id} changed since it was read",
            hint="look at the incident again before escalating",
        )
    chain = Chain.from_json(row.chain)
    tier, repeat = chain.successor(int(row.tier), int(row.repeat)) if int(row.tier) >= 0 else (0, 0)
    epoch = int(row.epoch) + 1
    _cancel_pending(conn, incident_id, row)
    nxt = (
        chain.following(row.base_at, (tier, repeat), now)
        if state == STATE_OPEN and repeat <= chain.repeat_times
        else None
    )
    conn.execute(
        update(escalations)
        .where(escalations.c.incident_id == incident_id)
        .values(
            epoch=epoch,
            tier=tier,
            repeat=repeat,
            last_at=now,
            executed=escalations.c.executed + 1,
            state=ESCALATION_ACTIVE
            if nxt is not None
            else ESCALATION_STOPPED
            if state != STATE_OPEN
            else ESCALATION_DONE,
            next_tier=nxt.tier if nxt else None,
            next_repeat=nxt.repeat if nxt else None,
            next_at=nxt.due if nxt else None,
            updated_at=now,
        )
    )
    _notify(conn, incident_id, chain, epoch, tier, repeat, actor=actor, now=now, due=None, reason=reason)
    if nxt is not None:
        _schedule(conn, incident_id, epoch, nxt.tier, nxt.repeat, nxt.due)
    return tier


def still_current(conn: Connection, incident_id: int, epoch: int) -> bool:
    """True while no acknowledge, resolve, reopen or escalate-now has happened since the step of ``epoch``
    (a notifier checks this, in its delivery transaction, before it pages)."""
    current = conn.execute(select(escalations.c.epoch).where(escalations.c.incident_id == incident_id)).scalar()
    return current is not None and int(current) == epoch


# -- what the incident page shows -------------------------------------------------------------------------


@dataclass(frozen=True)
class TierView:
    index: int
    after: timedelta
    notify: tuple[str, ...]
    hours: str | None  # "office (Europe/Berlin)"
    outside: str
    done: bool  # run in this epoch (or an earlier tier than the current one)
    current: bool


@dataclass(frozen=True)
class Status:
    incident_id: int
    policy: str
    state: str  # active, stopped, done
    epoch: int
    tier: int  # the last tier run (-1: none yet)
    repeat: int
    repeat_every: timedelta | None
    repeat_times: int
    tiers: tuple[TierView, ...]
    next_tier: int | None
    next_repeat: int | None
    next_at: datetime | None
    last_at: datetime | None
    executed: int
    overdue: bool
    late: timedelta | None  # how long ago the next step was due (None: not due yet, or none)


def status(conn: Connection, incident_id: int, *, now: datetime, overdue_after_s: float | None = None) -> Status | None:
    """The incident's chain as the UI shows it, or None when it has none. ``overdue``: the next step was due
    more than ``overdue_after_s`` ago (default: the spec's ``escalation.overdue_after``) and has not run."""
    row = conn.execute(select(escalations).where(escalations.c.incident_id == incident_id)).first()
    if row is None:
        return None
    return status_of(dict(row._mapping), now=now, overdue_after_s=overdue_after_s)


def status_of(row: Mapping[str, Any], *, now: datetime, overdue_after_s: float | None = None) -> Status:
    chain = Chain.from_json(row["chain"])
    limit = overdue_after_s if overdue_after_s is not None else _settings.overdue_after.total_seconds()
    next_at: datetime | None = row["next_at"]
    late = (now - next_at).total_seconds() if next_at is not None and row["state"] == ESCALATION_ACTIVE else None
    tier = int(row["tier"])
    tiers = tuple(
        TierView(
            index=i,
            after=t.after,
            notify=t.notify,
            hours=f"{t.hours.name} ({t.hours.zone})" if t.hours else None,
            outside=t.outside,
            done=i <= tier,
            current=i == tier,
        )
        for i, t in enumerate(chain.tiers)
    )
    return Status(
        incident_id=int(row["incident_id"]),
        policy=str(row["policy"]),
        state=str(row["state"]),
        epoch=int(row["epoch"]),
        tier=tier,
        repeat=int(row["repeat"]),
        repeat_every=chain.repeat_every,
        repeat_times=chain.repeat_times,
        tiers=tiers,
        next_tier=row["next_tier"],
        next_repeat=row["next_repeat"],
        next_at=next_at,
        last_at=row["last_at"],
        executed=int(row["executed"]),
        overdue=late is not None and late > limit,
        late=timedelta(seconds=round(late)) if late is not None and late > 0 else None,
    )
