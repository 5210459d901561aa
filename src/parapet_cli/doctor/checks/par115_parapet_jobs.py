"""PAR115: Parapet's archive or escalation scheduled where every node runs it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parapet_cli.doctor.checks.par109_cron_in_image import starts_cron
from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line

JOB = re.compile(r"\bparapet(_cli)?\s+(archive|escalat\w*)\b")


EXAMPLES = (
    Example(
        "bad",
        {
            "Dockerfile": """\
FROM python:3.12-slim
RUN apt-get update && apt-get install -y cron
WORKDIR /app
COPY . .
COPY parapet.crontab /etc/cron.d/parapet
CMD ["sh", "-c", "cron && exec gunicorn shop.wsgi -b 0.0.0.0:8000"]
""",
            "docker-compose.yml": """\
services:
  web:
    build: .
    deploy:
      replicas: 2
""",
            "parapet.crontab": """\
# prune resolved incidents nightly
15 3 * * * root parapet archive --older-than 90d
""",
        },
        fires=(("parapet.crontab", 2, "error"),),
    ),
    Example(
        "good",
        {
            "k8s/archive.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: parapet-archive
spec:
  schedule: "15 3 * * *"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 3600
  jobTemplate:
    spec:
      activeDeadlineSeconds: 1800
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: archive
              image: registry.example.com/shop:7.0.0
              command: ["parapet", "archive", "--older-than", "90d"]
""",
        },
    ),
)


@check(
    "PAR115",
    "parapet-jobs-every-node",
    examples=EXAMPLES,
    title="parapet archive or escalation is scheduled where it runs on every node",
    severity=Severity.ERROR,
    fix=(
        "Schedule parapet archive once: a Kubernetes CronJob with concurrencyPolicy: Forbid, or one scheduler "
        "service with replicas: 1. Never from cron inside the web image or a replicated worker's command."
    ),
)
def parapet_jobs(ctx: Context) -> Iterator[Finding]:
    """Parapet's archive prunes evidence and its escalation pages people. Run from the web image's cron or a
    replicated worker, every replica prunes and escalates at the same minute: duplicated pages, lock contention,
    and deletes that race each other."""
    crontab_lines = [
        Line(rel, number, raw.strip())
        for rel in ctx.repo.of_kind("crontab")
        for number, raw in enumerate(ctx.repo.lines(rel), start=1)
        if JOB.search(raw) and not raw.lstrip().startswith("#")
    ]
    for process in ctx.topology.services:
        lines = [line for line in process.script if JOB.search(line.text)]
        if any(starts_cron(line.text) for line in process.script):
            lines += crontab_lines
        for line in lines:
            multi = process.multi
            severity = gate(Severity.ERROR, multi)
            if severity is None:
                continue
            yield at_line(
                THIS,
                severity,
                line,
                f"{JOB.search(line.text).group(0)} runs in {process.describe()}: every copy runs it"  # type: ignore[union-attr]
                + unknown_suffix(multi),
                "schedule it once: a CronJob with concurrencyPolicy: Forbid",
                confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
            )
    for process in ctx.topology.processes:
        if process.kind != "cronjob" or process.origin != "CronJob":
            continue
        hits = [line for line in process.script if JOB.search(line.text)]
        if hits and process.concurrency_policy not in ("Forbid", "Replace"):
            yield at_line(
                THIS,
                Severity.WARNING,
                hits[0],
                f"CronJob {process.name} runs {JOB.search(hits[0].text).group(0)} but allows overlapping runs",  # type: ignore[union-attr]
                "set concurrencyPolicy: Forbid",
            )
