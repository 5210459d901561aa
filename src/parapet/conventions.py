"""Every name Parapet generates, in one place: metrics of the contract, recording rules, alerts, labels,
rule groups, dashboard uids and file names.

Nothing else in the source spells one of these names: generators, the spec's checks and the runtime
import them from here (``tests/test_conventions.py`` greps the source to keep it so). Table names are
the other exception: each is spelled once, in its ``Table`` of ``parapet.evidence.schema``.

Recording rules follow Prometheus' ``level:metric:operations`` convention under the ``parapet_slo``
level. Every SLO series carries ``service`` and ``slo`` (and the SLO's ``group_by`` labels); user labels
go on alerts and on the info series only, so changing them never splits an SLO's history.

It imports only the standard library, so the spec loader, the generators and the runtime can all afford it.
"""

from __future__ import annotations

import hashlib
import re

# -- the metric contract (METRICS.md); parapet.metrics.contract builds the families from these names ------

HTTP_DURATION = "http_server_request_duration_seconds"
HTTP_ACTIVE = "http_server_active_requests"
DB_DURATION = "db_client_operation_duration_seconds"
JOB_DURATION = "parapet_job_duration_seconds"
JOB_QUEUE_WAIT = "parapet_job_queue_wait_seconds"
JOB_LAST_SUCCESS = "parapet_job_last_success_timestamp_seconds"
JOURNEY_EVENTS = "parapet_journey_events_total"
PROBE_DURATION = "parapet_probe_duration_seconds"
PROBE_SUCCESS = "parapet_probe_success"
BUILD_INFO = "parapet_build_info"

# Labels of the contract's metrics that SLIs select on.
LABEL_HTTP_ROUTE = "http_route"
LABEL_HTTP_METHOD = "http_request_method"
LABEL_HTTP_STATUS = "http_response_status_code"
LABEL_JOB_TASK = "task"
LABEL_JOB_QUEUE = "queue"
LABEL_JOB_FRAMEWORK = "framework"
LABEL_OUTCOME = "outcome"
LABEL_JOURNEY = "journey"
LABEL_PROBE = "probe"
# Probe outcomes (the closed set of the probe histogram's outcome label): the check passed, its answer was
# wrong, it ran out of time, or it could not run at all (connection refused, the callable raised).
PROBE_OUTCOMES = ("success", "failure", "timeout", "error")

# Changes (deploys, flag changes) for Grafana's annotations: the time of the newest change per service and
# kind, read from the store at scrape time (``parapet.changes.metrics``).
CHANGE_LAST_TIMESTAMP = "parapet_change_last_timestamp_seconds"
LABEL_CHANGE_KIND = "kind"

# -- SLO series ---------------------------------------------------------------------------------------

LEVEL = "parapet_slo"
LABEL_SERVICE = "service"
LABEL_SLO = "slo"
# Labels Parapet sets itself on every generated series or alert: a user label may not take these names.
RESERVED_LABELS = frozenset({LABEL_SERVICE, LABEL_SLO, "alertname", "__name__"})
# Labels of the info series (besides service and slo), which user labels would otherwise collide with.
INFO_LABEL_OBJECTIVE = "objective"
INFO_LABEL_PERIOD = "period"
INFO_LABEL_SLI_KIND = "sli_kind"
INFO_LABEL_SLI_SOURCE = "sli_source"
INFO_LABEL_SPEC_FORMAT = "spec_format"
INFO_LABELS = frozenset(
    {INFO_LABEL_OBJECTIVE, INFO_LABEL_PERIOD, INFO_LABEL_SLI_KIND, INFO_LABEL_SLI_SOURCE, INFO_LABEL_SPEC_FORMAT}
)
# The label that carries an alert's severity, unless the spec renames it.
SEVERITY_LABEL = "severity"


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


ERROR_RATIO_PERIOD = f"{LEVEL}:error_ratio:period"
BURN_RATE_PERIOD = f"{LEVEL}:burn_rate:period"
BUDGET_REMAINING = f"{LEVEL}:error_budget_remaining:ratio"
OBJECTIVE = f"{LEVEL}:objective:ratio"
ERROR_BUDGET = f"{LEVEL}:error_budget:ratio"
PERIOD_DAYS = f"{LEVEL}:period:days"
INFO = f"{LEVEL}:info"

ALL_FIXED_RECORDS = (
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


# -- alerts -------------------------------------------------------------------------------------------


ALERT_SUFFIX = "ErrorBudgetBurn"
ABSENT_SUFFIX = "NoData"


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def camel(*parts: str) -> str:
    """``shop.api`` + ``checkout-latency`` -> ``ShopApiCheckoutLatency`` (an alert name starts with a letter)."""
    words = [w for part in parts for w in _words(part)]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name[:1].isalpha() else "SLO" + name


def alert_name(service: str, slo: str, *, imported: bool = False) -> str:
    """``<Service><Slo>ErrorBudgetBurn``. A ``parapet/v1`` spec does not repeat a service name the SLO name
    starts with; an imported Sloth or OpenSLO file (``imported``) keeps every word, as it always has, so
    re-importing never renames an alert."""
    service_words = [w.lower() for w in _words(service)]
    if not imported and [w.lower() for w in _words(slo)][: len(service_words)] == service_words:
        return camel(slo, ALERT_SUFFIX)
    return camel(service, slo, ALERT_SUFFIX)


def absent_alert_name(alert_name: str) -> str:
    """The alert that fires when an SLO's events vanish."""
    return f"{alert_name}{ABSENT_SUFFIX}"


# -- dashboards ---------------------------------------------------------------------------------------

DASHBOARD_UID_MAX = 40  # Grafana's limit on a dashboard uid


def dashboard_uid(*parts: str) -> str:
    """A stable Grafana dashboard uid: ``parapet-<parts>``, anything but letters, digits, '-' and '_' made
    '-', cut to 40 characters with a hash of the full name when longer."""
    raw = "-".join(("parapet", *parts))
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", raw)
    if len(clean) <= DASHBOARD_UID_MAX:
        return clean
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]
    return f"{clean[: DASHBOARD_UID_MAX - 9]}-{digest}"


def overview_dashboard_uid(service: str) -> str:
    return dashboard_uid(service, "overview")


def slo_dashboard_uid(service: str, slo: str) -> str:
    """The uid of an SLO's detail dashboard: what ``{uid}`` in ``dashboard_url`` becomes."""
    return dashboard_uid(service, slo)


def overview_dashboard_file(service: str) -> str:
    return f"dashboards/{service}/overview.json"


def slo_dashboard_file(service: str, slo: str) -> str:
    return f"dashboards/{service}/slo-{slo}.json"


def dashboards_provider(service: str) -> str:
    """Grafana's file provider of a service's dashboards (its name, and its file under provisioning/)."""
    return f"parapet-{service}"


def dashboards_provisioning_file(service: str) -> str:
    return f"provisioning/dashboards/{dashboards_provider(service)}.yml"


# Where the host serves Alertmanager's webhook (Parapet's web app), and the receiver that calls it.
WEBHOOK_PATH = "/parapet/webhook"


def receiver_name(service: str) -> str:
    return f"parapet-{service}"


# The incident store's URL in the environment (``parapet archive``, the runtime's store, ``doctor`` PAR301).
DATABASE_URL_ENV = "PARAPET_DATABASE_URL"
# Incidents per ``parapet archive`` batch: one read, one archive write + fsync, one short delete transaction.
ARCHIVE_BATCH_SIZE = 2000
