"""PAR109: a cron daemon started inside a replicated service's container."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import words

DAEMONS = ("cron", "crond", "supercronic", "go-crond")
_DJANGO = re.compile(r"\b(crontab\s+add|runcrons)\b")


def starts_cron(text: str) -> bool:
    tokens = words(text)
    if _DJANGO.search(text):
        return True
    for i, tok in enumerate(tokens):
        name = tok.rsplit("/", 1)[-1]
        if name in DAEMONS and (i == 0 or tokens[i - 1] in ("exec", "&&", ";", "busybox", "sudo", "-c", "service")):
            return True
        if name == "service" and i + 2 < len(tokens) and tokens[i + 1] == "cron" and tokens[i + 2] == "start":
            return True
    return False


EXAMPLES = (
    Example(
        "bad",
        {
            "Dockerfile": """\
FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends cron \\
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
COPY crontab /etc/cron.d/shop
ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8000"]
""",
            "crontab": """\
*/10 * * * * root cd /app && python manage.py send_reminders
""",
            "entrypoint.sh": """\
#!/bin/sh
set -e
cron
exec "$@"
""",
            "k8s/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/shop:5.0.0
          args: ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
""",
        },
        fires=(("entrypoint.sh", 3, "error"),),
    ),
    Example(
        "good",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /app
COPY . .
CMD ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8000"]
""",
            "k8s/reminders.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: send-reminders
spec:
  schedule: "*/10 * * * *"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 300
  jobTemplate:
    spec:
      activeDeadlineSeconds: 540
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: reminders
              image: registry.example.com/shop:5.0.0
              command: ["python", "manage.py", "send_reminders"]
""",
            "k8s/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/shop:5.0.0
          args: ["gunicorn", "shop.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2"]
""",
        },
    ),
)


@check(
    "PAR109",
    "cron-in-replicated-image",
    examples=EXAMPLES,
    title="A cron daemon runs inside a service that has several replicas",
    severity=Severity.ERROR,
    fix=(
        "Move the schedule out of the image: a Kubernetes CronJob with concurrencyPolicy: Forbid, or one "
        "single-replica scheduler service; keep the web image free of cron."
    ),
)
def cron_in_image(ctx: Context) -> Iterator[Finding]:
    """A crontab baked into the web image runs in every container started from it: with three replicas each job
    runs three times at the same minute, and scaling the web tier silently multiplies batch work. django-crontab's
    ``crontab add`` and django_cron's ``runcrons`` in an entrypoint do the same."""
    for process in ctx.topology.services:
        for line in process.script:
            if "parapet" in line.text and "archive" in line.text:
                continue  # PAR115 reports Parapet's own jobs
            if not starts_cron(line.text):
                continue
            multi = process.multi
            severity = gate(Severity.ERROR, multi)
            if severity is None:
                break
            yield at_line(
                THIS,
                severity,
                line,
                f"cron starts inside {process.describe()}: every replica runs every job" + unknown_suffix(multi),
                "use a Kubernetes CronJob (concurrencyPolicy: Forbid) or a single scheduler service",
                confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
            )
            break
