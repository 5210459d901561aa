"""PAR101: Celery beat running more than once."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, Process, after, flag_value, words

_EMBEDDED = re.compile(r"^-[A-Za-z]*B[A-Za-z]*$")


def _schedulers(ctx: Context) -> tuple[str | None, bool]:
    """The beat scheduler configured in Python (``beat_scheduler``), and whether RedBeat's lock is turned off."""
    scheduler: str | None = None
    lock_off = False
    for module in ctx.py.importing("celery", "redbeat", "django"):
        for node in module.nodes(ast.Assign, ast.keyword, ast.Dict):
            pairs: list[tuple[str, ast.expr]] = []
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                    pairs.append((str(name), node.value))
            elif isinstance(node, ast.keyword) and node.arg:
                pairs.append((node.arg, node.value))
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and isinstance(k.value, str):
                        pairs.append((k.value, v))
            for name, value in pairs:
                lower = name.lower()
                if (
                    lower.endswith("beat_scheduler")
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    scheduler = value.value
                if lower.endswith("redbeat_lock_key") and isinstance(value, ast.Constant) and value.value is None:
                    lock_off = True
    return scheduler, lock_off


def _beats(ctx: Context) -> Iterator[tuple[Process, Line, bool, str | None]]:
    """Each process that runs beat, at the first line that starts it (a script's branches count once)."""
    for process in ctx.topology.services:
        for line in process.script:
            rest = after(words(line.text), "celery")
            if rest is None:
                continue
            plain = [t for t in rest if not t.startswith("-")]
            if "beat" in plain:
                yield process, line, False, flag_value(rest, "-S", "--scheduler")
                break
            if "worker" in plain and any(t == "--beat" or _EMBEDDED.match(t) for t in rest):
                yield process, line, True, flag_value(rest, "-S", "--scheduler")
                break


EXAMPLES = (
    Example(
        "bad",
        {
            "k8s/beat.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: beat
spec:
  replicas: 3
  selector:
    matchLabels: {app: beat}
  template:
    metadata:
      labels: {app: beat}
    spec:
      containers:
        - name: beat
          image: registry.example.com/shop:1.4.2
          command: ["celery", "-A", "shop", "beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]
""",
        },
        fires=(("k8s/beat.yaml", 16, "error"),),
    ),
    Example(
        "worker-beat",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
CMD ["gunicorn", "shop.wsgi"]
""",
            "docker-compose.yml": """\
services:
  web:
    build: .
    command: gunicorn shop.wsgi -b 0.0.0.0:8000
  worker:
    build: .
    command: celery -A shop worker -B -l info
    deploy:
      replicas: 2
""",
        },
        fires=(("docker-compose.yml", 7, "error"),),
    ),
    Example(
        "redbeat",
        {
            "k8s/beat.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: beat
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: beat
          image: registry.example.com/shop:1.4.2
          command: ["celery", "-A", "shop", "beat", "-S", "redbeat.RedBeatScheduler"]
""",
        },
        fires=(("k8s/beat.yaml", 12, "info"),),
    ),
    Example(
        "good",
        {
            "k8s/celery.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 4
  template:
    spec:
      containers:
        - name: worker
          image: registry.example.com/shop:1.4.2
          command: ["celery", "-A", "shop", "worker", "-l", "info", "--concurrency", "8"]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: beat
spec:
  replicas: 1
  strategy: {type: Recreate}
  template:
    spec:
      containers:
        - name: beat
          image: registry.example.com/shop:1.4.2
          command: ["celery", "-A", "shop", "beat", "-l", "info"]
""",
        },
    ),
)


@check(
    "PAR101",
    "celery-beat-multi-node",
    examples=EXAMPLES,
    python=r"(?i)beat_scheduler|redbeat_lock_key",
    title="Celery beat runs in more than one process or replica",
    severity=Severity.ERROR,
    fix=(
        "Run beat as its own single-replica process (a Deployment with replicas: 1 and no autoscaler, one Compose "
        "service), never as worker -B; or use RedBeat (redbeat.RedBeatScheduler), whose Redis lock keeps one "
        "scheduler active."
    ),
)
def celery_beat(ctx: Context) -> Iterator[Finding]:
    """Celery's scheduler must run exactly once per schedule: every running beat sends every periodic task, so
    three replicas of a beat (or three workers started with ``-B``) run each task three times. django-celery-beat's
    DatabaseScheduler takes no lock either. RedBeat takes a Redis lock, so extra copies stand by."""
    beats = list(_beats(ctx))
    if not beats:
        return
    configured, lock_off = _schedulers(ctx)
    several = len({(p.path, p.name) for p, _, _, _ in beats}) > 1
    for process, line, embedded, flag in beats:
        scheduler = flag or configured or ""
        if "redbeat" in scheduler.lower() and not lock_off:
            yield at_line(
                THIS,
                Severity.INFO,
                line,
                f"celery beat in {process.describe()} uses RedBeat: its Redis lock keeps one scheduler active",
                "keep redbeat_lock_key set (the default) so the lock stays on",
            )
            continue
        multi = True if several else process.multi
        severity = gate(Severity.ERROR, multi)
        if severity is None:
            continue
        what = "celery worker -B embeds beat" if embedded else "celery beat"
        why = "beat runs in several processes" if several else "every copy sends every periodic task"
        yield at_line(
            THIS,
            severity,
            line,
            f"{what} in {process.describe()}: {why}, so each task runs more than once{unknown_suffix(multi)}",
            "run one beat process (replicas: 1) or switch to redbeat.RedBeatScheduler",
            confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
        )
