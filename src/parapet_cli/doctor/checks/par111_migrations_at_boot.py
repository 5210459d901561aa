"""PAR111: database migrations run at start-up by every replica."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import check

MIGRATE = re.compile(
    r"(manage\.py|django-admin)\s+migrate\b(?!.*--(check|plan))"
    r"|\balembic\b(\s+-\S+(\s+\S+)?)*\s+upgrade\b"
    r"|\bflask\s+db\s+upgrade\b"
    r"|\baerich\s+upgrade\b"
)


@check(
    "PAR111",
    "migrations-at-boot",
    title="Migrations run at start-up in every replica",
    severity=Severity.WARNING,
    fix=(
        "Run migrations once per deploy: a Kubernetes Job or Helm pre-upgrade hook, an init container of a "
        "single-replica workload, or a release phase (Procfile release:); keep the web command to the server."
    ),
)
def migrations_at_boot(ctx: Context) -> Iterator[Finding]:
    """Neither Django's migrate nor Alembic takes a lock across processes: replicas that start together run the
    same migration concurrently, and the loser fails half-way or applies it twice. Every restart and autoscale
    event also reruns the check against the database, slowing start-up."""
    for process in ctx.topology.services:
        for line in process.script:
            if not MIGRATE.search(line.text):
                continue
            multi = process.multi
            severity = gate(Severity.WARNING, multi)
            if severity is None:
                break
            yield at_line(
                "PAR111",
                severity,
                line,
                f"migrations run at start-up in {process.describe()}: replicas starting together migrate concurrently"
                + unknown_suffix(multi),
                "run them once per deploy (a Job, a Helm hook, a release phase)",
                confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
            )
            break
