"""PAR111: database migrations run at start-up by every replica."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, Process

MIGRATE = re.compile(
    r"(manage\.py|django-admin)\W+migrate\b(?!.*--(check|plan))"
    r"|\balembic\b(\s+-\S+(\s+\S+)?)*\s+upgrade\b"
    r"|\bflask\s+db\s+upgrade\b"
    r"|\baerich\s+upgrade\b"
    r"|\bcall_command\(\s*[\"']migrate[\"']"  # Django, from Python (a gunicorn hook)
    r"|\bcommand\.upgrade\("  # Alembic's API
)
# A lock around the migration (one replica migrates, the others wait): flock, s6-setlock, a Postgres advisory lock.
LOCKED = re.compile(r"\b(flock|s6-setlock|setlock|pg_advisory_lock|advisory_lock)\b")
WORKER_HOOKS = ("post_fork", "post_worker_init")


EXAMPLES = (
    Example(
        "bad",
        {
            "docker-compose.yml": """\
services:
  web:
    image: registry.example.com/shop:6.0.0
    command: sh -c "python manage.py migrate --noinput && gunicorn shop.wsgi -b 0.0.0.0:8000"
    deploy:
      replicas: 3
""",
        },
        fires=(("docker-compose.yml", 4, "warning"),),
    ),
    Example(
        "good",
        {
            "k8s/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      initContainers:
        - name: check-migrations
          image: registry.example.com/shop:6.0.0
          command: ["python", "manage.py", "migrate", "--check"]
      containers:
        - name: web
          image: registry.example.com/shop:6.0.0
          command: ["gunicorn", "shop.wsgi", "-b", "0.0.0.0:8000"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-upgrade
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example.com/shop:6.0.0
          command: ["python", "manage.py", "migrate", "--noinput"]
""",
        },
    ),
)


@check(
    "PAR111",
    "migrations-at-boot",
    examples=EXAMPLES,
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
            if not MIGRATE.search(line.text) or LOCKED.search(line.text):
                continue
            in_workers = _in_worker_hook(process, line)
            multi = process.several if in_workers else process.multi
            severity = gate(Severity.WARNING, multi)
            if severity is None:
                break
            where = "every gunicorn worker" if in_workers else "every replica"
            yield at_line(
                THIS,
                severity,
                line,
                f"migrations run at start-up in {process.describe()}, once in {where}: copies starting together "
                "migrate concurrently" + unknown_suffix(multi),
                "run them once per deploy (a Job, a Helm hook, a release phase)",
                confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
            )


def _in_worker_hook(process: Process, line: Line) -> bool:
    """The line is in a gunicorn hook that runs in each worker (``post_fork``), not once in the master."""
    conf = process.gunicorn
    if conf is None or line.path != conf.rel or line.line is None:
        return False
    return any(
        (hook := conf.hooks.get(name)) is not None and hook.lineno <= line.line <= (hook.end_lineno or hook.lineno)
        for name in WORKER_HOOKS
    )
