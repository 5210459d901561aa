"""The starter ``parapet.yaml`` ``parapet install`` writes when the host has none, matched to what was detected."""

from __future__ import annotations

import re

from parapet_cli.install.detect import Detection

_JOB_FRAMEWORK = {"celery": "celery", "rq": "rq", "procrastinate": "procrastinate"}


def service_name(detection: Detection) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", detection.root.resolve().name.lower()).strip("-")
    return name or "service"


def starter_spec(detection: Detection, *, webhook_token_file: str | None = None) -> str:
    """The starter; with ``webhook_token_file`` (``--with ui``) an ``alertmanager:`` block pointing the
    webhook at the token file Alertmanager sends (relative to the spec)."""
    web = detection.framework is not None
    lines = [
        "# parapet.yaml: the single source for this service's SLOs, alerts and dashboards.",
        "# Written by `parapet install` from what it detected; edit it freely and re-run `parapet install`.",
        "version: parapet/v1",
        f"service: {service_name(detection)}     # the service label on every generated series and alert",
        "",
        "alerting:",
        "  # Every alerting SLO needs a runbook; {service} and {slo} are filled in per SLO.",
        "  runbook_url: https://runbooks.example.com/{service}/{slo}",
        "  page: {for: 2m}                # how long a fast burn must last before it pages",
        "  ticket: {for: 15m}             # how long a slow burn must last before it opens a ticket",
        "",
        "slos:",
    ]
    if web:
        lines += [
            f"  # Detected {detection.framework}: availability (99.9% of requests without a 5xx) and latency",
            "  # (99% under 500 ms) from the metric contract that Parapet's middleware records.",
            "  # List routes: [...] to cover only some route templates.",
            "  - pack: web",
        ]
    else:
        lines += [
            "  # No web framework detected: an SLO over your own counters (replace the queries).",
            "  - name: requests",
            "    objective: 99.9",
            "    sli:",
            "      events:",
            '        error_query: sum(rate(requests_total{outcome="error"}[{{window}}]))',
            "        total_query: sum(rate(requests_total[{{window}}]))",
        ]
    if detection.job_system in _JOB_FRAMEWORK:
        lines += [
            "",
            f"  # Detected {detection.job_system}: uncomment and name a task to hold it to an SLO.",
            "  # - name: emails",
            "  #   objective: 99",
            "  #   sli:",
            "  #     job:",
            "  #       task: myapp.tasks.send_email",
            f"  #       framework: {_JOB_FRAMEWORK[detection.job_system]}",
        ]
    if webhook_token_file is not None:
        lines += [
            "",
            "alertmanager:",
            "  # The bearer token Alertmanager sends to /parapet/webhook (its credentials_file): one per line,",
            "  # two while rotating. Create the file yourself and keep it out of version control.",
            f"  webhook_token_file: {webhook_token_file}",
        ]
    return "\n".join(lines) + "\n"
