"""OpenSLO ``apiVersion: openslo/v1`` files (one or more YAML documents), mapped onto the internal model.

Every document is validated against its kind's schema (unknown keys refused). References
(``indicatorRef``, ``alertPolicyRef``, ``conditionRef``) resolve to documents of the same file.

Parapet convention: OpenSLO leaves a Prometheus query's range open, so every
``metricSource.spec.query`` must be a rate over a ``{{window}}`` (or Sloth's ``{{.window}}``)
placeholder, which Parapet renders once per alert window.

What has no Parapet counterpart is refused with a hint: ``thresholdMetric`` and raw ratio SLIs,
``Timeslices`` / ``RatioTimeslices`` budgeting, calendar-aligned windows, composite objectives,
``counter: false`` and ``openslo/v1alpha`` files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from parapet import conventions as c
from parapet.slo.windows import WindowPair, declared_pair, window_pairs
from parapet.slo.windows import policy as window_policy
from parapet.spec import v1
from parapet.spec.checks import DEFAULT_FOR, check_duration, check_labels, check_slo, events_sli, pairs
from parapet.spec.durations import DurationError, format_duration, parse_duration
from parapet.spec.model import SLI, SLO, Alerting, AlertTier, Spec
from parapet.spec.preview import preview
from parapet.spec.promql import has_placeholder
from parapet.spec.source import PathKey, SourceDocument
from parapet.spec.sources import format_decimal
from parapet.spec.validate import validate

FORMAT = "openslo/v1"
API_VERSION = "openslo/v1"
DEFAULT_PERIOD_DAYS = 30
PAGE_SEVERITIES = frozenset({"page", "critical"})
ABSENT_FOR = v1.AbsentAlert().for_
SEVERITY_LABEL = c.SEVERITY_LABEL
RUNBOOK_ANNOTATION = "runbook_url"
# metricSource types whose queries are PromQL
PROMQL_SOURCES = frozenset({"prometheus", "thanos", "cortex", "mimir", "victoriametrics"})
_NAME = re.compile(v1.NAME_PATTERN)
PLACEHOLDER_HINT = (
    "OpenSLO does not say over which range a Prometheus query counts; Parapet's convention is a rate over "
    "a {{window}} placeholder (Sloth's {{.window}} works too), rendered once per alert window, "
    'e.g. query: sum(rate(http_requests_total{code=~"5.."}[{{window}}]))'
)


# --------------------------------------------------------------------------------------------- schema


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(_Model):
    name: str = Field(min_length=1)
    displayName: str | None = None
    labels: dict[str, str | list[str]] = {}
    annotations: dict[str, str] = {}


class MetricSource(_Model):
    metricSourceRef: str | None = None
    type: str | None = None
    spec: dict[str, Any]


class MetricSpec(_Model):
    metricSource: MetricSource


class RatioMetric(_Model):
    counter: bool | None = None
    good: MetricSpec | None = None
    bad: MetricSpec | None = None
    total: MetricSpec | None = None
    rawType: str | None = None
    raw: MetricSpec | None = None


class SLISpec(_Model):
    description: str = ""
    thresholdMetric: MetricSpec | None = None
    ratioMetric: RatioMetric | None = None


class InlineSLI(_Model):
    metadata: Metadata
    spec: SLISpec


class ConditionBody(_Model):
    kind: str = "burnrate"
    op: str | None = None
    threshold: float | None = None
    lookbackWindow: str | None = None
    alertAfter: str | None = None


class AlertConditionSpec(_Model):
    description: str = ""
    severity: str = Field(min_length=1)
    condition: ConditionBody


class ConditionRef(_Model):
    conditionRef: str


class InlineCondition(_Model):
    apiVersion: Literal["openslo/v1"] | None = None
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class TargetRef(_Model):
    targetRef: str


class AlertNotificationTargetSpec(_Model):
    description: str = ""
    target: str


class InlineTarget(_Model):
    apiVersion: Literal["openslo/v1"] | None = None
    kind: Literal["AlertNotificationTarget"]
    metadata: Metadata
    spec: AlertNotificationTargetSpec


def _ref_or_inline(ref_key: str) -> Any:
    def tag(value: Any) -> str:
        return "ref" if isinstance(value, dict) and ref_key in value else "inline"

    return Discriminator(tag)


ConditionEntry = Annotated[
    Annotated[ConditionRef, Tag("ref")] | Annotated[InlineCondition, Tag("inline")],
    _ref_or_inline("conditionRef"),
]
TargetEntry = Annotated[
    Annotated[TargetRef, Tag("ref")] | Annotated[InlineTarget, Tag("inline")],
    _ref_or_inline("targetRef"),
]


class AlertPolicySpec(_Model):
    description: str = ""
    alertWhenNoData: bool = False
    alertWhenResolved: bool = False
    alertWhenBreaching: bool | None = None
    conditions: list[ConditionEntry] = []
    notificationTargets: list[TargetEntry] = []


class AlertPolicyRef(_Model):
    alertPolicyRef: str


class InlineAlertPolicy(_Model):
    apiVersion: Literal["openslo/v1"] | None = None
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


PolicyEntry = Annotated[
    Annotated[AlertPolicyRef, Tag("ref")] | Annotated[InlineAlertPolicy, Tag("inline")],
    _ref_or_inline("alertPolicyRef"),
]
TAGS = frozenset({"ref", "inline"})


class Calendar(_Model):
    startTime: str | None = None
    timeZone: str | None = None


class TimeWindow(_Model):
    duration: str
    isRolling: bool | None = None
    calendar: Calendar | None = None


class Objective(_Model):
    displayName: str | None = None
    op: str | None = None
    value: float | None = None
    target: float | None = Field(None, ge=0, lt=1)
    targetPercent: float | None = Field(None, ge=0, lt=100)
    timeSliceTarget: float | None = None
    timeSliceWindow: str | int | None = None
    indicator: dict[str, Any] | None = None
    indicatorRef: str | None = None
    compositeWeight: float | None = None


class SLOSpec(_Model):
    description: str = ""
    service: str = Field(min_length=1)
    indicator: InlineSLI | None = None
    indicatorRef: str | None = None
    budgetingMethod: str
    timeWindow: list[TimeWindow] = []
    objectives: list[Objective] = Field(min_length=1)
    alertPolicies: list[PolicyEntry] = []


class ServiceSpec(_Model):
    description: str = ""


class DataSourceSpec(_Model):
    description: str = ""
    type: str | None = None
    connectionDetails: dict[str, Any] | list[Any] | None = None


class _Object(_Model):
    apiVersion: Literal["openslo/v1"]
    metadata: Metadata


class SLODoc(_Object):
    kind: Literal["SLO"]
    spec: SLOSpec


class SLIDoc(_Object):
    kind: Literal["SLI"]
    spec: SLISpec


class AlertPolicyDoc(_Object):
    kind: Literal["AlertPolicy"]
    spec: AlertPolicySpec


class AlertConditionDoc(_Object):
    kind: Literal["AlertCondition"]
    spec: AlertConditionSpec


class AlertNotificationTargetDoc(_Object):
    kind: Literal["AlertNotificationTarget"]
    spec: AlertNotificationTargetSpec


class ServiceDoc(_Object):
    kind: Literal["Service"]
    spec: ServiceSpec = ServiceSpec()


class DataSourceDoc(_Object):
    kind: Literal["DataSource"]
    spec: DataSourceSpec


KINDS: dict[str, type[_Object]] = {
    "SLO": SLODoc,
    "SLI": SLIDoc,
    "AlertPolicy": AlertPolicyDoc,
    "AlertCondition": AlertConditionDoc,
    "AlertNotificationTarget": AlertNotificationTargetDoc,
    "Service": ServiceDoc,
    "DataSource": DataSourceDoc,
}


# -------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class _Found:
    """A validated object and where it stands: its document and the path of its envelope in it."""

    doc: SourceDocument
    loc: PathKey
    metadata: Metadata
    spec: Any


@dataclass
class _Catalog:
    objects: dict[str, dict[str, _Found]]

    def get(self, kind: str, name: str) -> _Found | None:
        return self.objects[kind].get(name)

    def names(self, kind: str) -> str:
        return ", ".join(sorted(self.objects[kind])) or "none"


def build_openslo(docs: list[SourceDocument]) -> Spec:
    """Validate the documents of an OpenSLO v1 file and map its SLOs onto the internal model."""
    catalog = _Catalog({kind: {} for kind in KINDS})
    slo_docs: list[tuple[SourceDocument, SLODoc]] = []
    for doc in docs:
        kind, model = _validate_document(doc)
        name = model.metadata.name
        if name in catalog.objects[kind]:
            raise doc.error(
                ("metadata", "name"),
                f"duplicate {kind} name {preview(name)}",
                f"every {kind} of a file needs its own metadata.name",
            )
        catalog.objects[kind][name] = _Found(doc, (), model.metadata, getattr(model, "spec", None))
        if isinstance(model, SLODoc):
            slo_docs.append((doc, model))
    if not slo_docs:
        raise docs[0].error(
            (), "the file holds no kind: SLO document", "add an SLO document (apiVersion: openslo/v1, kind: SLO)"
        )
    first_doc, first = slo_docs[0]
    service = first.spec.service
    if not _NAME.match(service):
        raise first_doc.error(
            ("spec", "service"),
            f"{preview(service)} is not a valid service name",
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        )
    for doc, slo_doc in slo_docs[1:]:
        if slo_doc.spec.service != service:
            raise doc.error(
                ("spec", "service"),
                f"SLO {preview(slo_doc.metadata.name)} belongs to service {preview(slo_doc.spec.service)}, "
                f"but the file's first SLO belongs to {preview(service)}",
                "Parapet generates one rule file per service: split the SLOs into one file per service",
            )
    spec_labels: dict[str, str] = {}
    service_doc = catalog.get("Service", service)
    if service_doc is not None:
        spec_labels = _labels(service_doc.metadata)
        check_labels(service_doc.doc, ("metadata", "labels"), spec_labels)
    slos: list[SLO] = []
    seen: set[str] = set()
    for doc, slo_doc in slo_docs:
        for slo, loc in _slos(doc, slo_doc, service, catalog):
            if slo.name in seen:
                raise doc.error(
                    loc, f"duplicate SLO name {preview(slo.name)}", "give each SLO (and each objective) its own name"
                )
            seen.add(slo.name)
            slos.append(slo)
    return Spec(service=service, slos=tuple(slos), path=first_doc.path, format=FORMAT, labels=pairs(spec_labels))


def _validate_document(doc: SourceDocument) -> tuple[str, _Object]:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "an OpenSLO document must be a mapping", "start it with apiVersion: openslo/v1")
    version = data.get("apiVersion")
    if version is None:
        raise doc.error((), "document has no apiVersion", "add apiVersion: openslo/v1 to every document")
    if version == "openslo/v1alpha":
        raise doc.error(
            ("apiVersion",),
            "openslo/v1alpha is not supported",
            "upgrade the file to openslo/v1: timeWindows[{count, unit}] becomes timeWindow[{duration: 30d, "
            "isRolling: true}], objectives[].ratioMetrics moves to spec.indicator.spec.ratioMetric (good or bad, "
            "and total, each under metricSource.spec.query), and add budgetingMethod: Occurrences",
        )
    if version != API_VERSION:
        raise doc.error(("apiVersion",), f"unsupported apiVersion {preview(version)}", f"use apiVersion: {API_VERSION}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # a list or mapping is unhashable: check the type first
        where: PathKey = ("kind",) if "kind" in data else ()
        raise doc.error(
            where,
            f"unknown kind {preview(kind)}" if kind is not None else "document has no kind",
            f"use one of {', '.join(KINDS)}",
        )
    return kind, validate(KINDS[kind], doc, data, tags=TAGS)


def _labels(metadata: Metadata) -> dict[str, str]:
    return {k: ",".join(v) if isinstance(v, list) else v for k, v in metadata.labels.items()}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _slos(doc: SourceDocument, slo_doc: SLODoc, service: str, catalog: _Catalog) -> list[tuple[SLO, PathKey]]:
    spec = slo_doc.spec
    name = slo_doc.metadata.name
    if not _NAME.match(name):
        raise doc.error(
            ("metadata", "name"),
            f"{preview(name)} is not a valid SLO name",
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        )
    if spec.budgetingMethod in ("Timeslices", "RatioTimeslices"):
        raise doc.error(
            ("spec", "budgetingMethod"),
            f"budgetingMethod {spec.budgetingMethod} cannot be imported",
            "Parapet budgets occurrences (bad events / all events over the period, a ratio of sums) and "
            "alerts on burn rates of that ratio; use budgetingMethod: Occurrences",
        )
    if spec.budgetingMethod != "Occurrences":
        raise doc.error(
            ("spec", "budgetingMethod"),
            f"unknown budgetingMethod {preview(spec.budgetingMethod)}",
            "use Occurrences",
        )
    period = _period(doc, spec.timeWindow)
    sli = _indicator(doc, spec, catalog)
    labels = _labels(slo_doc.metadata)
    check_labels(doc, ("metadata", "labels"), labels)
    out: list[tuple[SLO, PathKey]] = []
    several = len(spec.objectives) > 1
    for index, objective in enumerate(spec.objectives):
        loc: PathKey = ("spec", "objectives", index)
        slo_name = name
        if several:
            slo_name = f"{name}-{_slug(objective.displayName or '') or index}"
        alerting, windows = _alerting(doc, slo_doc, service, slo_name, period, catalog)
        built = SLO(
            name=slo_name,
            objective=_objective(doc, loc, objective),
            sli=sli,
            period_days=period,
            description=spec.description,
            labels=pairs(labels),
            alerting=alerting,
            alert_windows=windows,
        )
        check_slo(doc, loc, built)
        out.append((built, loc if several else ("metadata", "name")))
    return out


def _period(doc: SourceDocument, windows: list[TimeWindow]) -> int:
    if not windows:
        return DEFAULT_PERIOD_DAYS
    if len(windows) > 1:
        raise doc.error(("spec", "timeWindow", 1), "timeWindow holds exactly one item", "keep one time window")
    window = windows[0]
    loc: PathKey = ("spec", "timeWindow", 0)
    if window.calendar is not None or window.isRolling is False:
        raise doc.error(
            (*loc, "calendar") if window.calendar is not None else (*loc, "isRolling"),
            "calendar-aligned time windows cannot be imported",
            "Parapet's budgets are rolling windows; set isRolling: true and remove calendar:",
        )
    text = window.duration.strip()
    if re.fullmatch(r"[0-9]+[MQY]", text):
        raise doc.error(
            (*loc, "duration"),
            f"{text} is a calendar duration",
            "months, quarters and years have no fixed length; write days or weeks, such as 30d or 4w",
        )
    try:
        seconds = int(parse_duration(text).total_seconds())
    except DurationError:
        raise doc.error(
            (*loc, "duration"),
            f"{preview(window.duration)} is not a duration",
            "write a whole number of days: 30d, 28d or 4w",
        ) from None
    if seconds <= 0 or seconds % 86400:
        raise doc.error(
            (*loc, "duration"),
            f"time window {text} is not a whole number of days",  # it parsed: a short text
            "write a whole number of days or weeks, such as 30d, 28d or 4w",
        )
    return seconds // 86400


def _objective(doc: SourceDocument, loc: PathKey, objective: Objective) -> Decimal:
    for key in ("indicator", "indicatorRef", "compositeWeight"):
        if getattr(objective, key) is not None:
            raise doc.error(
                (*loc, key),
                "composite SLOs cannot be imported",
                "write one SLO per indicator, each with spec.indicator or spec.indicatorRef",
            )
    for key in ("timeSliceTarget", "timeSliceWindow"):
        if getattr(objective, key) is not None:
            raise doc.error(
                (*loc, key),
                f"{key} only applies to Timeslices budgeting",
                "remove it: Parapet budgets occurrences",
            )
    if (objective.target is None) == (objective.targetPercent is None):
        raise doc.error(
            loc,
            "an objective needs exactly one of target and targetPercent",
            "write target: 0.999 or targetPercent: 99.9",
        )
    if objective.target is not None:
        percent, key = Decimal(str(objective.target)) * 100, "target"
    else:
        percent, key = Decimal(str(objective.targetPercent)), "targetPercent"
    if percent <= 0:
        raise doc.error(
            (*loc, key),
            f"objective {format_decimal(percent)}% is out of range",
            "an objective must be above 0, such as target: 0.999",
        )
    return Decimal(format_decimal(percent))


# ----------------------------------------------------------------------------------------------- SLIs


def _indicator(doc: SourceDocument, spec: SLOSpec, catalog: _Catalog) -> SLI:
    if (spec.indicator is None) == (spec.indicatorRef is None):
        raise doc.error(
            ("spec",),
            "an SLO needs exactly one of indicator and indicatorRef",
            "inline the SLI under spec.indicator (metadata and spec), or name a kind: SLI document in indicatorRef",
        )
    if spec.indicator is not None:
        return _sli(doc, ("spec", "indicator", "spec"), spec.indicator.spec, catalog)
    assert spec.indicatorRef is not None
    found = catalog.get("SLI", spec.indicatorRef)
    if found is None:
        raise doc.error(
            ("spec", "indicatorRef"),
            f"no kind: SLI document named {preview(spec.indicatorRef)} in this file",
            f"add the SLI to this file (Parapet reads one file) or inline it under spec.indicator; "
            f"SLIs here: {catalog.names('SLI')}",
        )
    sli_spec: SLISpec = found.spec
    return _sli(found.doc, ("spec",), sli_spec, catalog)


def _sli(doc: SourceDocument, loc: PathKey, spec: SLISpec, catalog: _Catalog) -> SLI:
    if spec.thresholdMetric is not None:
        raise doc.error(
            (*loc, "thresholdMetric"),
            "thresholdMetric SLIs cannot be imported",
            "a threshold SLI compares one value with objectives[].op/value, which gives no events to count; "
            "rewrite it as ratioMetric with counter: true, bad (or good) and total queries "
            "(for latency: histogram buckets above the threshold over _count)",
        )
    if spec.ratioMetric is None:
        raise doc.error(loc, "an SLI needs ratioMetric", "add ratioMetric: with counter: true, bad (or good) and total")
    ratio = spec.ratioMetric
    rloc: PathKey = (*loc, "ratioMetric")
    if ratio.raw is not None or ratio.rawType is not None:
        raise doc.error(
            (*rloc, "raw" if ratio.raw is not None else "rawType"),
            "raw ratio SLIs cannot be imported",
            "a precomputed ratio cannot be re-aggregated into a ratio of sums over longer windows; rewrite it as "
            "bad (or good) and total queries over the underlying counters",
        )
    if ratio.counter is not True:
        raise doc.error(
            (*rloc, "counter") if ratio.counter is not None else rloc,
            "ratioMetric.counter must be true",
            "Parapet counts events with rate() over counters: set counter: true and write each query as "
            "sum(rate(counter[{{window}}]))",
        )
    if ratio.total is None:
        raise doc.error(rloc, "ratioMetric needs total", "add total: with metricSource.spec.query")
    queries: dict[str, str | None] = {}
    locations: dict[str, PathKey] = {}
    for field in ("bad", "good", "total"):
        metric: MetricSpec | None = getattr(ratio, field)
        if metric is None:
            queries[field] = None
            continue
        qloc: PathKey = (*rloc, field, "metricSource", "spec", "query")
        queries[field] = _query(doc, (*rloc, field, "metricSource"), metric.metricSource, catalog)
        locations[field] = qloc
    total = queries["total"]
    assert total is not None
    return events_sli(
        doc,
        rloc,
        queries["bad"],
        queries["good"],
        total,
        (),
        error_field="bad",
        good_field="good",
        total_field="total",
        locations=locations,
    )


def _query(doc: SourceDocument, loc: PathKey, source: MetricSource, catalog: _Catalog) -> str:
    kind = source.type
    if kind is None and source.metricSourceRef is not None:
        found = catalog.get("DataSource", source.metricSourceRef)
        if found is not None:
            data_source: DataSourceSpec = found.spec
            kind = data_source.type
    if kind is not None and kind.lower() not in PROMQL_SOURCES:
        raise doc.error(
            (*loc, "type") if source.type is not None else (*loc, "metricSourceRef"),
            f"metric source type {preview(kind)} is not Prometheus",
            "Parapet generates Prometheus rules: the SLI's queries must be PromQL (type: Prometheus)",
        )
    query = source.spec.get("query")
    qloc: PathKey = (*loc, "spec", "query")
    if not isinstance(query, str) or not query.strip():
        raise doc.error(
            qloc if "query" in source.spec else (*loc, "spec"),
            "metricSource.spec needs a query",
            "write the PromQL under spec.query: " + PLACEHOLDER_HINT.split("e.g. ")[1],
        )
    if not has_placeholder(query):
        raise doc.error(qloc, "query has no {{window}} placeholder", PLACEHOLDER_HINT)
    return query


# ------------------------------------------------------------------------------------------- alerting


@dataclass(frozen=True)
class _Condition:
    doc: SourceDocument
    loc: PathKey
    spec: AlertConditionSpec


def _policies(doc: SourceDocument, slo_doc: SLODoc, catalog: _Catalog) -> list[_Found]:
    out: list[_Found] = []
    for i, entry in enumerate(slo_doc.spec.alertPolicies):
        loc: PathKey = ("spec", "alertPolicies", i)
        if isinstance(entry, AlertPolicyRef):
            found = catalog.get("AlertPolicy", entry.alertPolicyRef)
            if found is None:
                raise doc.error(
                    (*loc, "alertPolicyRef"),
                    f"no kind: AlertPolicy document named {preview(entry.alertPolicyRef)} in this file",
                    "add the AlertPolicy to this file or inline it; "
                    f"AlertPolicies here: {catalog.names('AlertPolicy')}",
                )
            out.append(found)
        else:
            out.append(_Found(doc, loc, entry.metadata, entry.spec))
    return out


def _conditions(policy: _Found, catalog: _Catalog) -> list[_Condition]:
    spec: AlertPolicySpec = policy.spec
    out: list[_Condition] = []
    for j, entry in enumerate(spec.conditions):
        loc: PathKey = (*policy.loc, "spec", "conditions", j)
        if isinstance(entry, ConditionRef):
            found = catalog.get("AlertCondition", entry.conditionRef)
            if found is None:
                raise policy.doc.error(
                    (*loc, "conditionRef"),
                    f"no kind: AlertCondition document named {preview(entry.conditionRef)} in this file",
                    "add the AlertCondition to this file or inline it; "
                    f"AlertConditions here: {catalog.names('AlertCondition')}",
                )
            out.append(_Condition(found.doc, ("spec",), found.spec))
        else:
            out.append(_Condition(policy.doc, (*loc, "spec"), entry.spec))
    return out


def _alerting(
    doc: SourceDocument, slo_doc: SLODoc, service: str, slo_name: str, period_days: int, catalog: _Catalog
) -> tuple[Alerting | None, tuple[WindowPair, ...]]:
    """The SLO's alerts, and the window pairs its conditions declare (empty: the policy's pairs)."""
    policies = _policies(doc, slo_doc, catalog)
    if not policies:
        return None, ()
    defaults = v1.GlobalAlerting()
    chosen: dict[str, tuple[_Condition, str, str]] = {}
    declared: dict[str, list[WindowPair | None]] = {}
    absent = False
    labels: dict[str, str] = {}
    runbook: str | None = None
    for policy in policies:
        spec: AlertPolicySpec = policy.spec
        absent = absent or spec.alertWhenNoData
        policy_labels = _labels(policy.metadata)
        check_labels(policy.doc, (*policy.loc, "metadata", "labels"), policy_labels, reserved=[SEVERITY_LABEL])
        labels.update(policy_labels)
        runbook = runbook or policy.metadata.annotations.get(RUNBOOK_ANNOTATION, "").strip() or None
        if spec.alertWhenBreaching is False:
            continue
        for cond in _conditions(policy, catalog):
            tier = "page" if cond.spec.severity.lower() in PAGE_SEVERITIES else "ticket"
            default_for: str = getattr(defaults, tier).for_ or DEFAULT_FOR[tier]
            for_ = cond.spec.condition.alertAfter or default_for
            check_duration(cond.doc, (*cond.loc, "condition", "alertAfter"), for_)
            previous = chosen.get(tier)
            if previous is not None and (previous[1], previous[2]) != (cond.spec.severity, for_):
                raise cond.doc.error(
                    (*cond.loc, "severity"),
                    f"two alert conditions of SLO {preview(slo_name)} map to its {tier} alert",
                    "conditions of one tier share its severity and alertAfter: severity page or critical for the "
                    "page alert, one other severity for the ticket alert",
                )
            chosen[tier] = (cond, cond.spec.severity, for_)
            declared.setdefault(tier, []).append(_burn_rate(cond, tier, period_days))
    runbook = runbook or slo_doc.metadata.annotations.get(RUNBOOK_ANNOTATION, "").strip() or None
    tiers: list[AlertTier] = []
    for tier in ("page", "ticket"):
        hit = chosen.get(tier)
        tiers.append(
            AlertTier(
                severity=tier,
                label_value=hit[1] if hit else getattr(defaults.severities, tier),
                enabled=hit is not None,
                for_=hit[2] if hit else getattr(defaults, tier).for_ or DEFAULT_FOR[tier],
                labels=pairs(labels),
            )
        )
    if not chosen and not absent:
        return None, ()
    if runbook is None:
        raise doc.error(
            ("spec", "alertPolicies"),
            f"SLO {preview(slo_name)} alerts but has no runbook_url",
            "add metadata: annotations: runbook_url: https://… to the AlertPolicy (or to the SLO)",
        )
    alerting = Alerting(
        name=c.alert_name(service, slo_name, imported=True),
        runbook_url=runbook,
        page=tiers[0],
        ticket=tiers[1],
        severity_label=SEVERITY_LABEL,
        labels=pairs(labels),
        absent_for=ABSENT_FOR if absent else None,
    )
    return alerting, _windows(declared, period_days)


def _burn_rate(cond: _Condition, tier: str, period_days: int) -> WindowPair | None:
    """The pair a burn-rate condition declares (``threshold`` over ``lookbackWindow``, the short window at
    1/12 of it), or None when it declares neither and Parapet's policy for the tier applies."""
    body = cond.spec.condition
    loc: PathKey = (*cond.loc, "condition")
    if body.kind.lower() != "burnrate":
        raise cond.doc.error(
            (*loc, "kind"),
            f"alert condition kind {preview(body.kind)} cannot be imported",
            "Parapet alerts on error-budget burn rates: use kind: burnrate with threshold and lookbackWindow",
        )
    if body.op is not None and body.op.lower() not in ("gt", "gte"):
        raise cond.doc.error(
            (*loc, "op"),
            f"op {preview(body.op)} cannot be imported",
            "a burn-rate alert fires when the burn rate rises above its threshold: use op: gt (or gte)",
        )
    if body.threshold is None and body.lookbackWindow is None:
        return None
    if body.threshold is None or body.lookbackWindow is None:
        missing = "threshold" if body.threshold is None else "lookbackWindow"
        raise cond.doc.error(
            loc,
            f"the condition has {'lookbackWindow' if missing == 'threshold' else 'threshold'} but no {missing}",
            "give both (the burn rate, and the long window it is measured over, such as threshold: 14.4 and "
            "lookbackWindow: 1h), or neither to use Parapet's windows for the tier (docs/spec.md)",
        )
    long = parse_duration(check_duration(cond.doc, (*loc, "lookbackWindow"), body.lookbackWindow))
    policy = window_policy()
    if long < policy.min_short * policy.divisor or long > timedelta(days=period_days):
        raise cond.doc.error(
            (*loc, "lookbackWindow"),
            f"lookbackWindow {preview(body.lookbackWindow)} is outside "
            f"{format_duration(policy.min_short * policy.divisor)} to the SLO's {period_days}d",
            f"the short window is 1/{policy.divisor} of it and at least {format_duration(policy.min_short)}; "
            "use a window such as 1h, 6h, 1d or 3d",
        )
    factor = Decimal(str(body.threshold))
    if factor <= 0:
        raise cond.doc.error((*loc, "threshold"), "threshold must be above 0", "write the burn rate, such as 14.4")
    return declared_pair(tier, factor, long, period_days)


def _windows(declared: dict[str, list[WindowPair | None]], period_days: int) -> tuple[WindowPair, ...]:
    """The SLO's pairs: each tier's declared ones; the policy's for a tier whose conditions declare none.
    Empty when no condition declares any (the generators then take the policy's pairs for the period)."""
    if not any(p is not None for pairs_ in declared.values() for p in pairs_):
        return ()
    out: list[WindowPair] = []
    for tier in ("page", "ticket"):
        if tier not in declared:
            continue  # no condition: the tier does not alert
        own = [p for p in declared[tier] if p is not None]
        if len(own) < len(declared[tier]):  # a condition of the tier without windows: the policy's
            own += [p for p in window_pairs(period_days) if p.severity == tier]
        out += own
    return tuple(dict.fromkeys(out))


__all__ = ["FORMAT", "build_openslo"]
