"""PAR110: Kubernetes CronJobs that can overlap or hang."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, get, yline

EXAMPLES = (
    Example(
        "bad",
        {
            "cronjob.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: registry.example.com/shop:5.0.0
              command: ["python", "manage.py", "nightly_report"]
""",
        },
        fires=(
            ("cronjob.yaml", 5, "info"),
            ("cronjob.yaml", 5, "warning"),
            ("cronjob.yaml", 7, "warning"),
        ),
    ),
    Example(
        "good",
        {
            "cronjob.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
spec:
  schedule: "0 2 * * *"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 600
  jobTemplate:
    spec:
      activeDeadlineSeconds: 3600
      backoffLimit: 1
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: report
              image: registry.example.com/shop:5.0.0
              command: ["python", "manage.py", "nightly_report"]
""",
        },
    ),
)


@check(
    "PAR110",
    "cronjob-hygiene",
    examples=EXAMPLES,
    title="A Kubernetes CronJob allows overlapping runs or has no deadline",
    severity=Severity.WARNING,
    fix=(
        "Set spec.concurrencyPolicy: Forbid (or Replace), spec.startingDeadlineSeconds, and "
        "spec.jobTemplate.spec.activeDeadlineSeconds; keep the job idempotent, since Kubernetes may still start it "
        "twice."
    ),
)
def cronjob_hygiene(ctx: Context) -> Iterator[Finding]:
    """A CronJob's default concurrencyPolicy is Allow: a run that outlasts its interval overlaps the next one, and
    both do the work. Without activeDeadlineSeconds a hung run never ends and, under Forbid, blocks every later
    run; without startingDeadlineSeconds a controller outage makes missed runs start in a burst (or, after 100
    misses, never again)."""
    for rel in ctx.repo.of_kind("yaml"):
        for doc in ctx.repo.yaml(rel):
            data = doc.data
            if (
                not isinstance(data, dict)
                or data.get("kind") != "CronJob"
                or not isinstance(data.get("apiVersion"), str)
            ):
                continue
            name = get(data, "metadata", "name") or "cronjob"
            spec = get(data, "spec")
            if not isinstance(spec, dict):
                continue
            policy = spec.get("concurrencyPolicy")
            if policy not in ("Forbid", "Replace"):
                key = ("spec", "concurrencyPolicy") if policy is not None else ("spec",)
                yield at_line(
                    THIS,
                    Severity.WARNING,
                    Line(rel, yline(doc, *key), f"CronJob {name} concurrencyPolicy"),
                    f"CronJob {name} allows overlapping runs (concurrencyPolicy: {policy or 'Allow, the default'})",
                    "set concurrencyPolicy: Forbid",
                )
            if get(spec, "jobTemplate", "spec", "activeDeadlineSeconds") is None:
                yield at_line(
                    THIS,
                    Severity.WARNING,
                    Line(rel, yline(doc, "spec", "jobTemplate"), f"CronJob {name} activeDeadlineSeconds"),
                    f"CronJob {name} has no activeDeadlineSeconds: a hung run never ends",
                    "set spec.jobTemplate.spec.activeDeadlineSeconds",
                )
            if spec.get("startingDeadlineSeconds") is None:
                yield at_line(
                    THIS,
                    Severity.INFO,
                    Line(rel, yline(doc, "spec"), f"CronJob {name} startingDeadlineSeconds"),
                    f"CronJob {name} has no startingDeadlineSeconds: missed runs start late, in a burst",
                    "set spec.startingDeadlineSeconds",
                )
