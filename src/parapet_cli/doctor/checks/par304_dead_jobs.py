"""PAR304: the work engine holds dead jobs (work Parapet gave up on after every attempt)."""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator

from parapet import conventions
from parapet_cli.doctor.checks.par301_store import migrated_store, store_shipped
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check

ENV_URL = conventions.DATABASE_URL_ENV

EXAMPLES = (
    Example(
        "dead-notification",
        {"parapet.yaml": "version: parapet/v1\nservice: shop\n"},
        fires=((None, None, "warning"),),
        store_jobs=(
            {
                "kind": "notify",
                "key": "slack:12:3",
                "state": "dead",
                "attempts": 10,
                "last_error": "NotifierError: invalid_auth",
            },
            {"kind": "notify", "key": "slack:12:4", "state": "done", "attempts": 1},
        ),
    ),
    Example(
        "all-delivered",
        {"parapet.yaml": "version: parapet/v1\nservice: shop\n"},
        store_jobs=(
            {"kind": "notify", "key": "slack:12:3", "state": "done", "attempts": 2},
            {"kind": "escalate", "key": "12:1:1:0", "state": "pending", "attempts": 0},
        ),
    ),
    Example("no-database", {"parapet.yaml": "version: parapet/v1\nservice: shop\n"}),
)


@check(
    "PAR304",
    "dead-jobs",
    examples=EXAMPLES,
    title="Dead jobs: work Parapet gave up on after every attempt",
    severity=Severity.WARNING,
    fix=(
        "Open /parapet/admin/jobs as an admin, read each dead job's last error, fix its cause (a notifier's token, a "
        "webhook URL, a runbook step), then Retry it there; see docs/work-engine.md."
    ),
)
def dead_jobs(ctx: Context) -> Iterator[Finding]:
    """A notification, escalation step or runbook step that failed on every attempt is dead: the work engine stops
    retrying it and nobody is told, so an incident may never have been announced. When a database URL is configured
    (PARAPET_DATABASE_URL), the check counts the dead jobs of parapet_jobs; an unreachable or unmigrated store is
    PAR301's to report, and without a URL there is nothing to read (PAR301 says so)."""
    raw = os.environ.get(ENV_URL, "")
    if not raw or not store_shipped():
        return
    work = importlib.import_module("parapet.work.jobs")
    with migrated_store(raw) as engine:
        if engine is None:
            return
        total = work.count_jobs(engine)["dead"]
        if not total:
            return
        newest = work.dead_jobs(engine, limit=100)
    kinds = Counter(job.kind for job in newest)
    summary = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))
    first = newest[0]
    error = f": {first.last_error}" if first.last_error else ""
    yield Finding(
        THIS,
        Severity.WARNING,
        f"{total} dead job{'s' if total != 1 else ''} in the work engine ({summary}"
        f"{', among the newest 100' if total > len(newest) else ''}); the newest: {first.kind} {first.key} after "
        f"{first.attempts} attempts{error}",
        "retry them from /parapet/admin/jobs (admin) once the cause is fixed",
        subject="dead jobs",
    )
