"""PAR109: a cron daemon started inside a replicated service's container."""

from __future__ import annotations

import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import check
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


@check(
    "PAR109",
    "cron-in-replicated-image",
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
                "PAR109",
                severity,
                line,
                f"cron starts inside {process.describe()}: every replica runs every job" + unknown_suffix(multi),
                "use a Kubernetes CronJob (concurrencyPolicy: Forbid) or a single scheduler service",
                confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
            )
            break
