"""The runtime wiring of runbooks: the "mitigation" job handler and the change-hook subscriber that starts
automatic runs.

    @handler("mitigation")   runs ``parapet.automation.runs.execute`` with the catalog of ``ctx.settings`` (the
                             spec the worker loaded); the lease (renewed while the run lasts) outlives a stuck
                             database call, and a process that dies mid-run leaves the job to be taken over and
                             recorded as lost, never run again
    install(spec)            subscribe "runbooks" to the incident change hooks: an incident opened (or reopened)
                             that a runbook with an ``auto: true`` step matches gets that step requested as
                             ``system:parapet:automation``, in the transaction that opened it (the outbox)

``parapet.work.registry`` lists this module twice: as a handler module (every worker runs mitigations) and as a
subscriber module (``create_app`` and the worker call ``install`` with their spec).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Connection

from parapet.automation.catalog import Catalog, load_catalog, matches
from parapet.automation.params import ParameterErrors, validate_values
from parapet.automation.runs import MITIGATION, SYSTEM_AUTOMATION, entry, execute, request_run
from parapet.evidence import hooks
from parapet.evidence.schema import incidents
from parapet.evidence.store import Incident
from parapet.spec.model import Spec
from parapet.work import JobContext, Retry, handler

SUBSCRIBER: Final = "runbooks"
STARTS: Final = ("opened", "reopened")
LEASE: Final = timedelta(seconds=60)
NO_SPEC_RETRY: Final = timedelta(seconds=30)

_lock = threading.Lock()
_catalogs: dict[int, tuple[Spec, Catalog]] = {}


def catalog_for(spec: Spec | None) -> Catalog:
    """The spec's catalog, loaded (callables imported) once per spec object."""
    if spec is None:
        return load_catalog(None)
    with _lock:
        found = _catalogs.get(id(spec))
        if found is not None and found[0] is spec:
            return found[1]
    catalog = load_catalog(spec)
    with _lock:
        _catalogs[id(spec)] = (spec, catalog)
    return catalog


@handler(MITIGATION, lease=LEASE)
def run_mitigation(ctx: JobContext) -> Mapping[str, Any] | None:
    spec = ctx.settings if isinstance(ctx.settings, Spec) else None
    if spec is None:
        # this process runs without the spec, so it knows no runbook: leave the run to one that does
        raise Retry(after=NO_SPEC_RETRY, reason="this worker has no spec: its runbooks are unknown here")
    return execute(ctx, catalog_for(spec), cwd=str(spec.path.parent))


def install(spec: Spec | None, catalog: Catalog | None = None) -> None:
    """Subscribe the automatic runs of ``spec``'s runbooks to the change hooks (nothing automatic: unsubscribe)."""
    catalog = catalog if catalog is not None else catalog_for(spec)
    if not catalog.automatic:
        hooks.unsubscribe(SUBSCRIBER)
        return
    hooks.subscribe(SUBSCRIBER, subscriber(catalog))


def subscriber(catalog: Catalog) -> hooks.Subscriber:
    automatic = [(r, s) for r in catalog.runbooks for s in r.steps if s.kind == "mitigation" and s.auto]

    def start_automatic_runs(conn: Connection, changes: Sequence[hooks.Change]) -> None:
        for change in changes:
            if change.kind not in STARTS:
                continue
            row = conn.execute(select(incidents).where(incidents.c.id == change.incident_id)).first()
            if row is None:
                continue
            incident = Incident(**dict(row._mapping))
            for runbook, step in automatic:
                if not matches(runbook, incident):
                    continue
                try:
                    values = validate_values(step, {}, incident)
                except ParameterErrors as exc:
                    entry(
                        conn,
                        incident.id,
                        "mitigation_skipped",
                        SYSTEM_AUTOMATION,
                        change.at,
                        f"{step.title}: its defaults do not fit its parameters ({exc})",
                        {"runbook": runbook.name, "step": step.name, "reason": "parameters", "automatic": True},
                    )
                    continue
                request_run(
                    conn,
                    incident,
                    runbook,
                    step,
                    actor=SYSTEM_AUTOMATION,
                    params=values,
                    now=change.at,
                    automatic=True,
                )

    return start_automatic_runs
