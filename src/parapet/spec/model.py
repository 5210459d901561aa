"""The internal SLO model every generator consumes.

User formats (``parapet/v1``, Sloth ``prometheus/v1``, OpenSLO ``openslo/v1``) are validated by their
own schemas and mapped onto these frozen dataclasses. Everything here is already resolved: an SLI is a
pair of PromQL templates, an objective is a Decimal, a period is a whole number of days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parapet import conventions as c
from parapet.errors import Location

if TYPE_CHECKING:
    from parapet.slo.windows import WindowPair

WINDOW_PLACEHOLDER = "{{window}}"


class SLIKind(StrEnum):
    EVENTS = "events"
    LATENCY = "latency"
    HTTP = "http"
    JOB = "job"
    JOURNEY = "journey"
    FRESHNESS = "freshness"
    PROBE = "probe"


@dataclass(frozen=True)
class SLI:
    """An SLI as PromQL templates that contain ``{{window}}``.

    ``total`` is the per-second rate of all events. Exactly one of ``errors`` (rate of bad events) and
    ``good`` (rate of good events) is set. A ``timeslice`` SLI (freshness) instead yields, at each
    evaluation, 1 for total and 1 or 0 for errors; its longer windows are averages of those samples.
    """

    kind: SLIKind
    total: str
    errors: str | None = None
    good: str | None = None
    source: str = "custom"
    timeslice: bool = False
    per_window: bool = False  # the queries use increase(): counts per window, not per-second rates

    def __post_init__(self) -> None:
        if (self.errors is None) == (self.good is None):
            raise ValueError("an SLI needs exactly one of errors and good")


@dataclass(frozen=True)
class AlertTier:
    """One severity of burn-rate alert (page or ticket)."""

    severity: str  # "page" or "ticket": which windows of the policy it uses
    label_value: str  # the value of the severity label, renamable ("critical", say)
    enabled: bool = True
    for_: str = "0s"
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Alerting:
    name: str
    runbook_url: str
    page: AlertTier
    ticket: AlertTier
    severity_label: str = c.SEVERITY_LABEL
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    min_events: int | None = None  # None: automatic (one bad event alone never crosses a threshold)
    min_errors: int = 3  # a window with fewer events than min_events may still fire with this many bad events
    absent_for: str | None = None  # None: no absent-data alert
    absent_severity: str = "ticket"  # which tier's severity label the absent-data alert carries
    dashboard_url: str | None = None

    @property
    def tiers(self) -> tuple[AlertTier, AlertTier]:
        return (self.page, self.ticket)


@dataclass(frozen=True)
class SLO:
    name: str
    objective: Decimal  # percent, 0 < objective < 100
    sli: SLI
    period_days: int = 30
    description: str = ""
    group_by: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    alerting: Alerting | None = None
    # The alert window pairs, when the spec declared its own (an OpenSLO AlertCondition's threshold and
    # lookbackWindow); empty: the policy's pairs for the period (parapet.slo.windows.window_pairs).
    alert_windows: tuple[WindowPair, ...] = ()

    @property
    def error_budget(self) -> Decimal:
        """The allowed error ratio, 1 - objective/100, exact."""
        return (Decimal(100) - self.objective) / Decimal(100)

    @property
    def objective_ratio(self) -> Decimal:
        return self.objective / Decimal(100)


@dataclass(frozen=True)
class Topology:
    """A declared topology (``topology:`` in the spec): it wins over what ``parapet doctor`` infers."""

    replicas: int | None = None
    workers: int | None = None
    services: tuple[tuple[str, int], ...] = ()  # (process name, replicas)


@dataclass(frozen=True)
class Suppression:
    """A ``parapet doctor`` check silenced in the spec (``doctor: ignore:``), with the reason given."""

    rule: str
    reason: str
    path: str | None = None  # a glob of repository paths; None silences the rule everywhere
    line: int | None = None  # where the entry stands in the spec


# An argument of a call: (0-based position, keyword), either may be None.
ArgRef = tuple[int | None, str | None]


@dataclass(frozen=True)
class MetricWrapper:
    """A project's own metric factory (``doctor: cardinality: wrappers:``): calls of ``call`` (a qualified name or
    an fnmatch pattern) define a metric of ``kind``, with the name, label names and buckets in the arguments
    given here (prometheus_client's own layout by default)."""

    call: str
    kind: str  # counter, gauge, histogram, summary, info or enum
    name: ArgRef = (0, "name")
    labels: ArgRef = (2, "labelnames")
    buckets: ArgRef = (None, "buckets")


@dataclass(frozen=True)
class CardinalitySettings:
    """``doctor: cardinality:`` in the spec: settings of ``parapet doctor cardinality``. ``None`` is "not set
    here", so ``[tool.parapet.cardinality]`` of pyproject.toml (or the default) applies to that key."""

    max_labels: int | None = None
    allow_labels: tuple[str, ...] | None = None
    histogram_budget: int | None = None
    label_fanout: int | None = None
    label_sizes: tuple[tuple[str, int], ...] | None = None
    wrappers: tuple[MetricWrapper, ...] | None = None


@dataclass(frozen=True)
class Retention:
    """How long the incident store keeps resolved incidents and system events (``retention:``);
    ``parapet archive`` uses it unless ``--older-than`` or ``--events-older-than`` is given."""

    incidents: timedelta = timedelta(days=90)
    system_events: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Database:
    """The incident store's URL from the spec (``database:``). It may hold a password: never print it
    as is (``parapet.evidence.db.mask_url``), hence no repr."""

    url: str = field(repr=False)


@dataclass(frozen=True)
class CorrelationRule:
    """Alerts whose labels carry every ``match`` pair correlate by alert name plus the ``by`` labels."""

    match: tuple[tuple[str, str], ...]
    by: tuple[str, ...]


@dataclass(frozen=True)
class AlertmanagerSettings:
    """``alertmanager:``: where the reconciler reads alerts, the route's repeat interval (3x unseen is stale),
    the webhook's token file (resolved against the spec's directory), and correlation overrides."""

    url: str | None = None
    repeat_interval: timedelta = timedelta(hours=4)
    webhook_token_file: Path | None = None
    ignore_labels: tuple[str, ...] = ("replica", "prometheus_replica")
    correlation: tuple[CorrelationRule, ...] = ()


@dataclass(frozen=True)
class UISettings:
    """``ui:``: the users file (resolved against the spec's directory), the proxies trusted to name the user
    (networks, user header, role header, default role) and the trace link template."""

    users_file: Path | None = None
    proxy_networks: tuple[str, ...] = ()
    proxy_user_header: str = "X-Forwarded-User"
    proxy_role_header: str | None = None
    proxy_default_role: str = "viewer"
    trace_url: str | None = None
    url: str | None = None  # where people reach the UI (https://parapet.example.com/parapet): notifications link it


@dataclass(frozen=True)
class HoursWindow:
    """A weekly window: ISO weekdays (1 = Monday) it starts on, and wall-clock minutes of the day it spans
    (``end`` 1440 is midnight; ``end`` <= ``start`` runs overnight into the next day)."""

    days: frozenset[int]
    start: int
    end: int


@dataclass(frozen=True)
class WorkingHours:
    """A named working-hours calendar: windows of wall-clock time in an IANA zone (``parapet.escalation.hours``
    turns it into instants, daylight-saving changes included)."""

    name: str
    zone: str
    windows: tuple[HoursWindow, ...]


@dataclass(frozen=True)
class EscalationTier:
    """One step: ``after`` the escalation started, notify ``notify`` (notifier target names). With ``hours``,
    a step due outside them waits for the next opening (``outside`` "wait") or is skipped ("skip")."""

    after: timedelta
    notify: tuple[str, ...]
    hours: WorkingHours | None = None
    outside: str = "wait"
    line: int | None = None


@dataclass(frozen=True)
class EscalationMatch:
    """Every field given must match; a tuple is "any of". Severity compares case-insensitively."""

    services: tuple[str, ...] = ()
    slos: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class EscalationPolicy:
    name: str
    tiers: tuple[EscalationTier, ...]
    match: EscalationMatch | None = None  # None: every incident (the last policy, as a default)
    repeat_every: timedelta | None = None  # the last tier again, this far apart ...
    repeat_times: int = 0  # ... this many more times
    line: int | None = None


@dataclass(frozen=True)
class EscalationSettings:
    """``escalation:``: the policies in order (the first that matches an incident wins) and the calendars."""

    policies: tuple[EscalationPolicy, ...] = ()
    working_hours: tuple[WorkingHours, ...] = ()
    overdue_after: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class SecretRef:
    """Where one secret of a notifier is read from: an environment variable or a file (resolved against the
    spec's folder). Only the reference is in the spec; the value is read at run time (``parapet.notify.secrets``)
    and never printed."""

    field: str  # the secret's field name in its kind's schema: token, url, secret, password, ...
    env: str | None = None
    file: Path | None = None

    @property
    def where(self) -> str:
        """Where the secret comes from, in words (never its value)."""
        return f"environment variable {self.env}" if self.env is not None else f"file {self.file}"


@dataclass(frozen=True)
class NotifierSettings:
    """One ``notifiers:`` target: its name, kind, whether every incident is announced to it, the references of
    its secrets, and the rest of its settings as the kind's schema validated them (JSON values; the runtime
    module of the kind reads them with ``option``)."""

    name: str
    kind: str
    announce: bool = False
    secrets: tuple[SecretRef, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    line: int | None = None  # where the entry stands in the spec
    base: Path | None = None  # the spec's folder: relative paths among the options are relative to it

    def secret(self, name: str) -> SecretRef | None:
        return next((s for s in self.secrets if s.field == name), None)

    def option(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self.options if k == key), default)


@dataclass(frozen=True)
class AuditSinkSettings:
    """One ``audit.sinks`` entry; secrets stay references (read when the sink is built, never kept here)."""

    name: str
    kind: str  # jsonl, syslog or http
    path: Path | None = None
    address: str | None = None
    facility: str = "local0"
    url: str | None = None
    url_env: str | None = None
    url_file: Path | None = None
    token_env: str | None = None
    token_file: Path | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    """``audit:``: the sinks and the mode (``dual_write``, or ``sink_only``: tool-audit details live in the
    sinks alone once delivered)."""

    mode: str = "dual_write"
    sinks: tuple[AuditSinkSettings, ...] = ()


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP probe's request and the answer it expects (a status among ``expect_status``, a body text)."""

    url: str
    method: str = "GET"
    body: str | None = None
    expect_status: tuple[int, ...] = (200,)
    expect_body: str | None = None


@dataclass(frozen=True)
class Probe:
    """A synthetic probe: exactly one of ``http`` and ``call`` (``package.module:function``)."""

    name: str
    every: timedelta
    timeout: timedelta
    http: HttpCheck | None = None
    call: str | None = None


@dataclass(frozen=True)
class ChangeSettings:
    """``changes:``: how long before an incident a deploy or flag change is suspect, and the bearer token
    file of ``POST /changes`` (None: the webhook's tokens)."""

    window: timedelta = timedelta(hours=1)
    token_file: Path | None = None


@dataclass(frozen=True)
class PrometheusSettings:
    """``prometheus:``: the HTTP API Parapet queries (exemplars); None when the spec names none."""

    url: str | None = None


@dataclass(frozen=True)
class MCPSettings:
    """``mcp:``: the bearer tokens of the MCP endpoint (a file, resolved against the spec's directory), and the
    Host names and Origins it answers besides loopback (DNS-rebinding protection)."""

    token_file: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunbookMatch:
    """Which incidents a runbook attaches to: every field given must match (``labels``: each pair)."""

    slo: str | None = None
    alert: str | None = None
    service: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Parameter:
    """One typed parameter of a mitigation. A ``secret`` one is never typed into a form: its value is read
    from ``env`` (a variable name) or ``file`` (resolved against the spec's directory) when the step runs,
    and it is masked wherever the run is recorded."""

    name: str
    type: str = "string"  # string, integer, number or boolean
    description: str = ""
    default: str | int | float | bool | None = None  # a string default may be a template ({labels.queue})
    required: bool = False
    choices: tuple[str | int | float, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False
    env: str | None = None
    file: Path | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Breaker:
    """At most ``max_runs`` runs of a step per ``target`` (a template over the incident) per ``window``; once
    tripped, automatic runs stop until a run succeeds and ``quiet`` passes after it without another trip."""

    max_runs: int = 3
    window: timedelta = timedelta(hours=1)
    quiet: timedelta = timedelta(minutes=30)
    target: str = "{alert}/{service}"


@dataclass(frozen=True)
class Step:
    """One step of a runbook: ``guidance`` (Markdown), ``link`` (a URL template) or ``mitigation`` (a Python
    callable with typed parameters, run claimed, audited and under a hard timeout)."""

    kind: str  # guidance, link or mitigation
    name: str  # unique in its runbook; ``step-N`` when the spec gives none
    title: str = ""
    text: str = ""  # guidance: Markdown written inline
    file: Path | None = None  # guidance: a Markdown file (resolved against the spec's directory), read when shown
    url: str = ""  # link: template over the incident ({labels.x}, {service}, {slo}, {alert}, {incident})
    python: str = ""  # mitigation: package.module:function
    parameters: tuple[Parameter, ...] = ()
    timeout: timedelta = timedelta(seconds=60)
    confirm: bool = True
    auto: bool = False
    idempotency: str = "{incident}"  # template; {params.x} may appear
    breaker: Breaker = Breaker()
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Runbook:
    """A runbook: what to do about the incidents it ``match``-es, in steps."""

    name: str
    title: str
    match: RunbookMatch
    steps: tuple[Step, ...]
    description: str = ""
    location: Location | None = field(default=None, compare=False)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


@dataclass(frozen=True)
class RunbookRef:
    """A runbook declared in Python (``runbooks: - python: package.module:NAME``), resolved by the runtime
    (``parapet.automation.catalog``): the toolchain reads host code, it never imports it."""

    python: str
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Spec:
    service: str
    slos: tuple[SLO, ...]
    path: Path
    format: str  # "parapet/v1", "prometheus/v1" or "openslo/v1"
    labels: tuple[tuple[str, str], ...] = ()
    rules_dir: str = "prometheus/rules"
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    topology: Topology | None = None
    suppressions: tuple[Suppression, ...] = ()
    journeys: tuple[str, ...] = ()  # the names of the journey SLIs, in spec order, each once
    retention: Retention = Retention()
    database: Database | None = None
    cardinality: CardinalitySettings | None = None  # doctor: cardinality:
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()
    ui: UISettings = UISettings()
    escalation: EscalationSettings = EscalationSettings()
    notifiers: tuple[NotifierSettings, ...] = ()
    audit: AuditSettings = AuditSettings()
    probes: tuple[Probe, ...] = ()
    changes: ChangeSettings = ChangeSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    mcp: MCPSettings = MCPSettings()

    runbooks: tuple[Runbook, ...] = ()
    runbook_refs: tuple[RunbookRef, ...] = ()

    def notifier(self, name: str) -> NotifierSettings | None:
        """The ``notifiers:`` target called ``name``, or None."""
        return next((n for n in self.notifiers if n.name == name), None)
