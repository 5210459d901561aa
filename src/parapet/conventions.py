"""Every name Parapet generates: recording rules, alerts, labels, groups and files, in one place.

Recording rules follow Prometheus' ``level:metric:operations`` convention under the ``parapet_slo``
level. Every SLO series carries ``service`` and ``slo`` (and the SLO's ``group_by`` labels); user labels
go on alerts and on the info series only, so changing them never splits an SLO's history.
"""

from __future__ import annotations

LEVEL = "parapet_slo"
LABEL_SERVICE = "service"
LABEL_SLO = "slo"


def events_rate(window: str) -> str:
    """Per-second rate of all events over ``window``."""
    return f"{LEVEL}:events:rate{window}"


def errors_rate(window: str) -> str:
    """Per-second rate of bad events over ``window``."""
    return f"{LEVEL}:errors:rate{window}"


def error_ratio(window: str) -> str:
    """Bad events / all events over ``window`` (a ratio of sums)."""
    return f"{LEVEL}:error_ratio:rate{window}"


def burn_rate(window: str) -> str:
    """Error ratio over ``window`` divided by the error budget."""
    return f"{LEVEL}:burn_rate:rate{window}"


# When the SLO's series were first seen (while they keep existing): long windows computed from the
# recorded 5m rates only hold that much history, which the low-traffic guard needs to count events.
SINCE = f"{LEVEL}:since:timestamp"
ERROR_RATIO_PERIOD = f"{LEVEL}:error_ratio:period"
BURN_RATE_PERIOD = f"{LEVEL}:burn_rate:period"
BUDGET_REMAINING = f"{LEVEL}:error_budget_remaining:ratio"
OBJECTIVE = f"{LEVEL}:objective:ratio"
ERROR_BUDGET = f"{LEVEL}:error_budget:ratio"
PERIOD_DAYS = f"{LEVEL}:period:days"
INFO = f"{LEVEL}:info"

ALL_FIXED_RECORDS = (
    SINCE,
    ERROR_RATIO_PERIOD,
    BURN_RATE_PERIOD,
    BUDGET_REMAINING,
    OBJECTIVE,
    ERROR_BUDGET,
    PERIOD_DAYS,
    INFO,
)

# Annotations on every burn-rate alert.
ANNOTATION_SUMMARY = "summary"
ANNOTATION_DESCRIPTION = "description"
ANNOTATION_RUNBOOK = "runbook_url"
ANNOTATION_DASHBOARD = "dashboard"


def group_name(service: str, slo: str) -> str:
    return f"parapet-slo-{service}-{slo}"


def rules_file(service: str) -> str:
    return f"{service}.slo.rules.yml"


def rules_test_file(service: str) -> str:
    return f"{service}.slo.test.yml"


def absent_alert_name(alert_name: str) -> str:
    return f"{alert_name}NoData"


# Where the host serves Alertmanager's webhook (Parapet's web app), and the receiver that calls it.
WEBHOOK_PATH = "/parapet/webhook"


def receiver_name(service: str) -> str:
    return f"parapet-{service}"


# The incident store's URL in the environment (``parapet archive``, the runtime's store, ``doctor`` PAR301).
DATABASE_URL_ENV = "PARAPET_DATABASE_URL"
# Incidents per ``parapet archive`` batch: one read, one archive write + fsync, one short delete transaction.
ARCHIVE_BATCH_SIZE = 2000
