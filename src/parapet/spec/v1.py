"""``version: parapet/v1``: the user's schema, validated with pydantic (unknown keys refused).

This module only describes what a user may write. ``parapet.spec.build`` maps it onto the internal
model (``parapet.spec.model``) that generators consume.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from parapet import conventions as c
from parapet.spec.notifiers import NotifierEntry

NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
Duration = Annotated[str, Field(pattern=r"^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$", min_length=2)]
Period = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}[dw]$")]
Objective = Annotated[float, Field(gt=0, lt=100)]
MinEvents = Annotated[int, Field(ge=0)] | Literal["auto"]


def _scalar_text(value: Any) -> Any:
    """YAML reads ``tier: 2`` as a number; a label or annotation value is its text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


LabelValue = Annotated[str, BeforeValidator(_scalar_text)]
Labels = dict[str, LabelValue]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Defaults(_Model):
    """Values every SLO inherits unless it sets its own."""

    period: Period = "30d"
    source: str = "parapet"


class Severities(_Model):
    page: str = Field("page", min_length=1)
    ticket: str = Field("ticket", min_length=1)


class Tier(_Model):
    """Settings of one severity: ``page`` or ``ticket``."""

    disable: bool | None = None  # unset: inherit (the top-level tier, else enabled)
    for_: Duration | None = Field(None, alias="for")  # unset: inherit (the top-level tier, else 2m / 15m)
    labels: Labels = {}
    annotations: Labels = {}


class AbsentAlert(_Model):
    for_: Duration = Field("10m", alias="for")
    severity: Literal["page", "ticket"] = "ticket"


class GlobalAlerting(_Model):
    """Alerting defaults for every SLO of the spec."""

    runbook_url: str | None = Field(None, description="template; {service} and {slo} are replaced")
    dashboard_url: str | None = Field(None, description="template; {service}, {slo} and {uid} are replaced")
    severity_label: str = c.SEVERITY_LABEL
    severities: Severities = Severities()
    labels: Labels = {}
    annotations: Labels = {}
    page: Tier = Tier()
    ticket: Tier = Tier()
    min_events: MinEvents = "auto"
    min_errors: int = Field(3, ge=1)
    absent: bool | AbsentAlert = False


class SLOAlerting(_Model):
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    runbook_url: str | None = None
    dashboard_url: str | None = None
    labels: Labels = {}
    annotations: Labels = {}
    page: Tier | None = None
    ticket: Tier | None = None
    min_events: MinEvents | None = None
    min_errors: int | None = Field(None, ge=1)
    absent: bool | AbsentAlert | None = None


class EventsSLI(_Model):
    error_query: str | None = None
    good_query: str | None = None
    total_query: str


class LatencySLI(_Model):
    threshold: float = Field(gt=0, description="seconds; must be one of the histogram's bucket bounds")
    histogram: str | None = Field(None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    buckets: list[float] | None = None
    filter: str = ""


class HttpSLI(_Model):
    routes: list[str] = []
    methods: list[str] = []
    errors: list[str | int] = ["5xx"]
    filter: str = ""


class JobSLI(_Model):
    task: str | None = None
    queue: str | None = None
    framework: str | None = None
    bad_outcomes: list[str] = ["failure", "timeout", "rejected"]
    ignore_outcomes: list[str] = ["retry", "revoked", "skipped"]
    filter: str = ""


class JourneySLI(_Model):
    name: Name


class FreshnessSLI(_Model):
    task: str
    max_age: Duration
    framework: str | None = None


class ProbeSLI(_Model):
    name: Name = Field(description="a probe declared under probes:")


class SLI(_Model):
    source: str | None = None
    events: EventsSLI | None = None
    latency: LatencySLI | None = None
    http: HttpSLI | None = None
    job: JobSLI | None = None
    journey: JourneySLI | None = None
    freshness: FreshnessSLI | None = None
    probe: ProbeSLI | None = None


class SLO(_Model):
    name: Name
    description: str = ""
    objective: Objective
    period: Period | None = None
    group_by: list[str] = []
    labels: Labels = {}
    sli: SLI
    alerting: SLOAlerting | None = None


class PackLatency(_Model):
    threshold: float = Field(0.5, gt=0)
    objective: Objective = 99.0


class Pack(_Model):
    """A starter pack: ``pack: web`` gives availability and latency SLOs for a web service."""

    pack: Literal["web"]
    source: str | None = None
    availability: Objective = 99.9
    latency: PackLatency = PackLatency()
    period: Period | None = None
    routes: list[str] = []
    filter: str = ""
    group_by: list[str] = []
    labels: Labels = {}
    alerting: SLOAlerting | None = None


def _slo_kind(value: Any) -> str:
    return "pack" if isinstance(value, dict) and "pack" in value else "slo"


SLOEntry = Annotated[Annotated[SLO, Tag("slo")] | Annotated[Pack, Tag("pack")], Discriminator(_slo_kind)]
UNION_TAGS = frozenset({"slo", "pack", "runbook", "python"})


class Output(_Model):
    rules_dir: str = "prometheus/rules"


class Topology(_Model):
    """How the service runs, declared by the user; ``parapet doctor`` uses it instead of what it infers."""

    replicas: int | None = Field(None, ge=1, description="nodes (pods, containers, machines) running the service")
    workers: int | None = Field(None, ge=1, description="processes per node serving requests")
    services: dict[Name, Annotated[int, Field(ge=1)]] = Field({}, description="replicas per process, by name")


class DoctorIgnore(_Model):
    """One suppressed ``parapet doctor`` check, optionally only for paths matching a glob; a reason is required."""

    rule: str = Field(pattern=r"^PAR\d{3}$")
    path: str | None = Field(None, min_length=1)
    reason: str = Field(min_length=1)


Position = Annotated[int, Field(ge=0, strict=True)]
Keyword = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# An argument of a call: a 0-based position, a keyword, or both as [position, keyword].
ArgRef = Position | Keyword | Annotated[list[Position | Keyword], Field(min_length=1, max_length=2)]


class MetricWrapper(_Model):
    """A project's own metric factory: its calls define a metric of ``kind`` (``parapet doctor cardinality``)."""

    call: str = Field(min_length=1, description="qualified name (myapp.metrics.counter) or fnmatch pattern")
    kind: Literal["counter", "gauge", "histogram", "summary", "info", "enum"]
    name: ArgRef = [0, "name"]
    labels: ArgRef = [2, "labelnames"]
    buckets: ArgRef = "buckets"


class DoctorCardinality(_Model):
    """Settings of ``parapet doctor cardinality``; each key set here wins over ``[tool.parapet.cardinality]``."""

    max_labels: int | None = Field(None, ge=1)
    allow_labels: list[str] | None = None
    histogram_budget: int | None = Field(None, ge=1)
    label_fanout: int | None = Field(None, ge=1)
    label_sizes: dict[str, Annotated[int, Field(ge=1)]] | None = None
    wrappers: list[MetricWrapper] | None = None


class Doctor(_Model):
    ignore: list[DoctorIgnore] = []
    cardinality: DoctorCardinality | None = None


# A retention as ``parapet archive --older-than`` takes it: a whole number and a unit (checked when the
# spec is built, so the error names the value's line); YAML's ``90`` is read as its text.
RetentionText = Annotated[str, BeforeValidator(_scalar_text)]


class Retention(_Model):
    """How long the incident store keeps what ``parapet archive`` prunes: 90d, 12h, 30m, 45s or 2w."""

    incidents: RetentionText = Field("90d", description="resolved incidents, counted from their resolution")
    system_events: RetentionText = Field("7d", description="deploys and feature-flag changes")


class Database(_Model):
    """The incident store, when neither ``--database-url`` nor ``PARAPET_DATABASE_URL`` names one."""

    url: str = Field(description="sqlite:///path or postgresql://user@host:5432/dbname")


class CorrelationRule(_Model):
    """Alerts whose labels have every ``match`` value correlate by their alert name plus the ``by`` labels."""

    match: dict[str, LabelValue] = {}
    by: list[str] = Field(description="label names whose values, with the alert name, make the correlation key")


class Alertmanager(_Model):
    """How Parapet's webhook intake reads Alertmanager (``alertmanager:``)."""

    url: str | None = Field(None, pattern=r"^https?://", description="read /api/v2/alerts to resolve what is gone")
    repeat_interval: RetentionText = Field("4h", description="the route's repeat_interval; 3x unseen marks stale")
    webhook_token_file: str | None = Field(None, min_length=1, description="bearer token(s), relative to the spec")
    ignore_labels: list[str] = Field(["replica", "prometheus_replica"], description="left out of correlation")
    correlation: list[CorrelationRule] = []


class TrustedProxySpec(_Model):
    """A proxy allowed to name the UI's user in a header (``ui.trusted_proxies``)."""

    networks: list[str] = Field(min_length=1, description="addresses or CIDRs of the proxies")
    user_header: str = Field("X-Forwarded-User", min_length=1)
    role_header: str | None = Field(None, min_length=1)
    default_role: Literal["viewer", "responder", "admin"] = "viewer"


class UI(_Model):
    """The operator UI (``ui:``); ``parapet serve`` and ``create_app`` read it."""

    users_file: str | None = Field(
        None, min_length=1, description="`parapet users add` writes it; relative to the spec"
    )
    trusted_proxies: TrustedProxySpec | None = None
    trace_url: str | None = Field(None, pattern=r"^https?://.*\{trace_id\}", description="link to a trace")
    url: str | None = Field(
        None, pattern=r"^https?://[^\s?#]+$", max_length=2048, description="the UI's address, for notifications"
    )


# -- escalation: who hears about an incident, and when ----------------------------------------------------

ClockTime = Annotated[str, BeforeValidator(_scalar_text), Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")]
DaysText = Annotated[str, Field(min_length=3, max_length=64)]


class HoursWindow(_Model):
    """One weekly window of working hours: ``days`` (``mon-fri``, ``[sat, sun]``), ``from`` and ``to`` as
    wall-clock times of the calendar's zone (``to`` may be ``24:00``, or earlier than ``from``: overnight)."""

    days: DaysText | list[DaysText] = "mon-fri"
    from_: ClockTime = Field(alias="from")
    to: ClockTime


class WorkingHours(_Model):
    """A named working-hours calendar in an IANA time zone: either one window (``days``, ``from``, ``to``)
    or a list of ``windows``."""

    zone: str = Field(min_length=1, description="an IANA time zone, e.g. Europe/Berlin")
    days: DaysText | list[DaysText] | None = None
    from_: ClockTime | None = Field(None, alias="from")
    to: ClockTime | None = None
    windows: list[HoursWindow] | None = Field(None, min_length=1)


class EscalationMatch(_Model):
    """Which incidents a policy takes: every key given must match (a list: any of its values)."""

    service: Annotated[str, BeforeValidator(_scalar_text)] | list[LabelValue] | None = None
    slo: Annotated[str, BeforeValidator(_scalar_text)] | list[LabelValue] | None = None
    severity: Annotated[str, BeforeValidator(_scalar_text)] | list[LabelValue] | None = None
    labels: dict[str, LabelValue | list[LabelValue]] = {}


class EscalationTier(_Model):
    """One step of a chain: ``after`` the incident opened, notify these targets (names under ``notifiers:``)."""

    after: Duration
    notify: list[Name] = Field(min_length=1)
    during: Name | None = Field(None, description="a calendar of escalation.working_hours")
    outside: Literal["wait", "skip"] | None = None


class EscalationRepeat(_Model):
    """Notify the last tier again, ``times`` more times, ``every`` apart."""

    every: Duration
    times: int = Field(ge=1, le=100)


class EscalationPolicy(_Model):
    name: Name
    match: EscalationMatch | None = None
    during: Name | None = Field(None, description="the default calendar of every tier")
    outside: Literal["wait", "skip"] = "wait"
    tiers: list[EscalationTier] = Field(min_length=1, max_length=20)
    repeat: EscalationRepeat | None = None


class Escalation(_Model):
    """``escalation:``: working-hours calendars and the policies, the first whose ``match`` fits wins."""

    working_hours: dict[Name, WorkingHours] = {}
    policies: list[EscalationPolicy] = Field(min_length=1)
    overdue_after: Duration = Field("30s", description="the UI flags a step this late as overdue")


class AuditSink(_Model):
    """Where audit events are mirrored (``audit.sinks``): a JSON Lines file, syslog, or an HTTP endpoint."""

    name: Name
    kind: Literal["jsonl", "syslog", "http"]
    path: str | None = Field(None, min_length=1, description="jsonl: the file, relative to the spec")
    address: str | None = Field(
        None,
        pattern=r"^(udp|tcp)://[^/]+:[0-9]+$|^unix:///.+$",
        description="syslog: udp://host:514, tcp://host:601 or unix:///dev/log",
    )
    facility: Literal[
        "user",
        "daemon",
        "auth",
        "authpriv",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ] = "local0"
    url: str | None = Field(None, pattern=r"^https?://[^?@]*$", description="http: an URL with no secret in it")
    url_env: str | None = Field(None, min_length=1, description="http: the environment variable holding the URL")
    url_file: str | None = Field(None, min_length=1, description="http: a file holding the URL")
    token_env: str | None = Field(None, min_length=1, description="http: bearer token from this variable")
    token_file: str | None = Field(None, min_length=1, description="http: bearer token from this file")
    headers: dict[str, LabelValue] = {}


class Audit(_Model):
    """Mirror every operator and system action to sinks (``audit:``)."""

    mode: Literal["dual_write", "sink_only"] = Field(
        "dual_write", description="sink_only keeps tool-audit details only in the sinks"
    )
    sinks: list[AuditSink] = Field(min_length=1)


HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpProbe(_Model):
    """An HTTP check: the request, and what its answer must be."""

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    method: HttpMethod = "GET"
    body: str | None = Field(None, max_length=65536, description="sent as is (POST, PUT, PATCH)")
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field([200], min_length=1)
    expect_body: str | None = Field(None, min_length=1, description="a text the answer's body must contain")


class Probe(_Model):
    """A synthetic probe (``probes:``): an HTTP check or a Python callable, run once per ``every`` slot."""

    name: Name
    every: Duration = "1m"
    timeout: Duration = "10s"
    http: HttpProbe | None = None
    call: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$",
        description="package.module:function, called with no argument; raising (or returning False) fails",
    )


class Changes(_Model):
    """Change correlation (``changes:``): the suspect window and who may post changes over HTTP."""

    window: RetentionText = Field("1h", description="changes this long before an incident opened are suspect")
    token_file: str | None = Field(None, min_length=1, description="bearer token(s) of POST /changes")


class Prometheus(_Model):
    """The Prometheus Parapet reads (``prometheus:``): exemplars for trace ids."""

    url: str = Field(pattern=r"^https?://", description="its HTTP API, e.g. http://prometheus:9090")


class MCP(_Model):
    """The read-only MCP endpoint at /parapet/mcp (``mcp:``)."""

    token_file: str | None = Field(None, min_length=1, description="bearer token(s), relative to the spec")
    allowed_hosts: list[Annotated[str, Field(min_length=1)]] = Field(
        [], description="Host header values answered besides loopback, e.g. parapet.example.com"
    )
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(
        [], description="browser Origins allowed besides those of the allowed hosts"
    )


# -- runbooks (``runbooks:``); each step is checked by ``parapet.spec.runbooks`` against the models below -----

PythonRef = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$", max_length=300)
]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
Scalar = str | int | float | bool


class RunbookMatch(_Model):
    """Which incidents a runbook attaches to; every key given must match."""

    slo: str | None = Field(None, min_length=1)
    alert: str | None = Field(None, min_length=1)
    service: str | None = Field(None, min_length=1)
    labels: dict[str, LabelValue] = {}


class ParameterV1(_Model):
    type: Literal["string", "integer", "number", "boolean"] = "string"
    description: str = ""
    default: Scalar | None = None
    required: bool = False
    choices: list[str | int | float] | None = None
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    env: EnvName | None = None
    file: str | None = Field(None, min_length=1)


class BreakerV1(_Model):
    max_runs: int = Field(3, ge=1, le=1000)
    window: Duration = "1h"
    quiet: Duration = "30m"
    target: str = Field("{alert}/{service}", min_length=1, max_length=500)


class GuidanceV1(_Model):
    text: str = ""
    file: str | None = Field(None, min_length=1, description="a Markdown file, relative to the spec")
    name: Name | None = None
    title: str = ""


class LinkV1(_Model):
    url: str = Field(min_length=1)
    title: str = ""
    name: Name | None = None


class MitigationV1(_Model):
    python: PythonRef
    name: Name | None = None
    title: str = ""
    description: str = ""
    parameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ParameterV1] = {}
    timeout: Duration = "60s"
    confirm: bool = True
    auto: bool = False
    idempotency: str = Field("{incident}", min_length=1, max_length=500)
    breaker: BreakerV1 = BreakerV1()


class RunbookV1(_Model):
    name: Name
    title: str = ""
    description: str = ""
    match: RunbookMatch
    steps: list[dict[str, Any]] = Field(
        min_length=1, description="each a mapping of one kind: guidance, link, mitigation"
    )


class RunbookRefV1(_Model):
    python: PythonRef


def _runbook_kind(value: Any) -> str:
    return "python" if isinstance(value, dict) and "python" in value else "runbook"


RunbookEntry = Annotated[
    Annotated[RunbookV1, Tag("runbook")] | Annotated[RunbookRefV1, Tag("python")], Discriminator(_runbook_kind)
]


class SpecV1(_Model):
    version: Literal["parapet/v1"]
    service: Name
    labels: Labels = {}
    defaults: Defaults = Defaults()
    alerting: GlobalAlerting = GlobalAlerting()
    output: Output = Output()
    slos: list[SLOEntry] = Field(min_length=1)
    topology: Topology | None = None
    doctor: Doctor = Doctor()
    alertmanager: Alertmanager | None = None
    ui: UI | None = None
    audit: Audit | None = None
    mcp: MCP | None = None
    retention: Retention = Retention()
    database: Database | None = None
    escalation: Escalation | None = None
    notifiers: dict[Name, NotifierEntry] = {}
    probes: list[Probe] = []
    changes: Changes = Changes()
    prometheus: Prometheus | None = None
    runbooks: list[RunbookEntry] = []
