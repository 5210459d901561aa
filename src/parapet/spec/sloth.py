"""Sloth ``version: prometheus/v1`` files, mapped onto the internal model.

The schema mirrors Sloth's ``pkg/prometheus/api/v1`` (snake_case keys; unknown keys refused). What has
no Parapet counterpart is refused with a hint rather than dropped:

- ``sli.raw.error_ratio_query``: a precomputed ratio cannot be re-aggregated into a ratio of sums;
- ``sli.plugin``: Sloth SLI plugins are Go code Sloth runs; their output is a raw ratio too;
- SLO plugin chains (``slo_plugins``, ``slos[].plugins``), except the core chain and
  ``sloth.dev/contrib/alert_for/v1``, whose ``for:`` Parapet applies natively.

Sloth has no runbook and no period field: the runbook comes from the ``runbook_url`` (or ``runbook``)
annotation, and the period is Sloth's default, 30 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parapet import conventions as c
from parapet.spec import v1
from parapet.spec.checks import (
    DEFAULT_FOR,
    check_alert_name,
    check_annotations,
    check_duration,
    check_labels,
    check_slo,
    events_sli,
    pairs,
)
from parapet.spec.model import SLO, Alerting, AlertTier, Spec
from parapet.spec.preview import preview
from parapet.spec.source import PathKey, SourceDocument
from parapet.spec.v1 import Labels
from parapet.spec.validate import validate

FORMAT = "prometheus/v1"
PERIOD_DAYS = 30  # Sloth's --default-slo-period
SEVERITY_LABEL = c.SEVERITY_LABEL
RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook")
# SLO plugins whose effect Parapet's own generator already has.
ACCEPTED_PLUGINS = frozenset({"sloth.dev/contrib/alert_for/v1"})
CORE_PLUGIN_PREFIX = "sloth.dev/core/"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PluginRef(_Model):
    id: str = Field(min_length=1)
    config: Any = None
    priority: int = 0


class Plugins(_Model):
    overridePrevious: bool = False
    chain: list[PluginRef] = []


class EventsSLI(_Model):
    error_query: str
    total_query: str


class RawSLI(_Model):
    error_ratio_query: str


class PluginSLI(_Model):
    id: str
    options: dict[str, Any] = {}


class SLI(_Model):
    events: EventsSLI | None = None
    raw: RawSLI | None = None
    plugin: PluginSLI | None = None


class Alert(_Model):
    disable: bool = False
    for_: v1.Duration | None = Field(None, alias="for")
    labels: Labels = {}
    annotations: Labels = {}


class AlertingSpec(_Model):
    name: str | None = None
    labels: Labels = {}
    annotations: Labels = {}
    page_alert: Alert = Alert()
    ticket_alert: Alert = Alert()


class SLOSpec(_Model):
    name: v1.Name
    description: str = ""
    objective: v1.Objective
    labels: Labels = {}
    plugins: Plugins | None = None
    sli: SLI
    alerting: AlertingSpec | None = None


class SlothSpec(_Model):
    version: Literal["prometheus/v1"]
    service: v1.Name
    labels: Labels = {}
    slo_plugins: Plugins | None = None
    slos: list[SLOSpec] = Field(min_length=1)


def build_sloth(doc: SourceDocument) -> Spec:
    """Validate a Sloth ``prometheus/v1`` document and map it onto the internal model."""
    spec = validate(SlothSpec, doc, doc.data)
    check_labels(doc, ("labels",), spec.labels)
    if spec.slo_plugins is not None:
        _check_plugins(doc, ("slo_plugins",), spec.slo_plugins)
    slos: list[SLO] = []
    seen: set[str] = set()
    for index, entry in enumerate(spec.slos):
        loc: PathKey = ("slos", index)
        if entry.name in seen:
            raise doc.error(
                (*loc, "name"), f"duplicate SLO name {preview(entry.name)}", "every SLO of a service needs its own name"
            )
        seen.add(entry.name)
        slos.append(_slo(doc, spec.service, entry, loc))
    return Spec(
        service=spec.service,
        slos=tuple(slos),
        path=doc.path,
        format=FORMAT,
        labels=pairs(spec.labels),
    )


def _slo(doc: SourceDocument, service: str, slo: SLOSpec, loc: PathKey) -> SLO:
    check_labels(doc, (*loc, "labels"), slo.labels)
    if slo.plugins is not None:
        _check_plugins(doc, (*loc, "plugins"), slo.plugins)
    sli_loc = (*loc, "sli")
    kinds = [k for k in ("events", "raw", "plugin") if getattr(slo.sli, k) is not None]
    if len(kinds) != 1:
        raise doc.error(
            sli_loc,
            "an SLI needs exactly one of events, raw and plugin" + (f", found {', '.join(kinds)}" if kinds else ""),
            "use events: with error_query and total_query",
        )
    if slo.sli.raw is not None:
        raise doc.error(
            (*sli_loc, "raw"),
            "raw error-ratio SLIs cannot be imported",
            "a precomputed ratio cannot be re-aggregated into a ratio of sums over longer windows; rewrite it "
            "as sli.events with error_query (bad events) and total_query (all events), each a "
            "sum(rate(...[{{.window}}]))",
        )
    if slo.sli.plugin is not None:
        raise doc.error(
            (*sli_loc, "plugin"),
            f"SLI plugin {preview(slo.sli.plugin.id)} cannot be imported",
            "SLI plugins are Go code that Sloth runs and they return a raw error ratio; write the counters the "
            "plugin reads as sli.events with error_query and total_query over [{{.window}}]",
        )
    assert slo.sli.events is not None
    sli = events_sli(doc, (*sli_loc, "events"), slo.sli.events.error_query, None, slo.sli.events.total_query, ())
    built = SLO(
        name=slo.name,
        objective=Decimal(str(slo.objective)),
        sli=sli,
        period_days=PERIOD_DAYS,
        description=slo.description,
        labels=pairs(slo.labels),
        alerting=_alerting(doc, (*loc, "alerting"), service, slo.name, slo.alerting or AlertingSpec()),
    )
    check_slo(doc, (*loc, "objective"), built)
    return built


def _alerting(doc: SourceDocument, loc: PathKey, service: str, slo_name: str, spec: AlertingSpec) -> Alerting | None:
    defaults = v1.GlobalAlerting()
    if spec.name is not None:
        check_alert_name(doc, (*loc, "name"), spec.name)
    check_labels(doc, (*loc, "labels"), _without_severity(spec.labels))
    check_annotations(doc, (*loc, "annotations"), spec.annotations)
    shared_severity = spec.labels.get(SEVERITY_LABEL)
    tiers: list[AlertTier] = []
    for severity, key, alert in (
        ("page", "page_alert", spec.page_alert),
        ("ticket", "ticket_alert", spec.ticket_alert),
    ):
        tier_loc = (*loc, key)
        own = _without_severity(alert.labels)
        check_labels(doc, (*tier_loc, "labels"), own)
        check_annotations(doc, (*tier_loc, "annotations"), alert.annotations)
        default_tier: v1.Tier = getattr(defaults, severity)
        for_ = alert.for_ or default_tier.for_ or DEFAULT_FOR[severity]
        check_duration(doc, (*tier_loc, "for"), for_)
        tiers.append(
            AlertTier(
                severity=severity,
                label_value=alert.labels.get(SEVERITY_LABEL)
                or shared_severity
                or getattr(defaults.severities, severity),
                enabled=not alert.disable,
                for_=for_,
                labels=pairs({**_without_severity(spec.labels), **own}),
                annotations=pairs(alert.annotations),
            )
        )
    if not any(t.enabled for t in tiers):
        return None
    runbook = _runbook(spec.annotations)
    for tier, alert in zip(tiers, (spec.page_alert, spec.ticket_alert), strict=True):
        if runbook is None and tier.enabled:
            runbook = _runbook(alert.annotations)
    if runbook is None:
        raise doc.error(
            loc,
            f"SLO {preview(slo_name)} alerts but has no runbook_url",
            "Sloth has no runbook field: add alerting: annotations: runbook_url: https://… to the SLO "
            "(or disable both page_alert and ticket_alert)",
        )
    return Alerting(
        name=spec.name or c.alert_name(service, slo_name, imported=True),
        runbook_url=runbook,
        page=tiers[0],
        ticket=tiers[1],
        severity_label=SEVERITY_LABEL,
        labels=pairs(_without_severity(spec.labels)),
        annotations=pairs(spec.annotations),
    )


def _without_severity(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != SEVERITY_LABEL}


def _runbook(annotations: Mapping[str, str]) -> str | None:
    for key in RUNBOOK_ANNOTATIONS:
        value = annotations.get(key, "").strip()
        if value:
            return value
    return None


def _check_plugins(doc: SourceDocument, loc: PathKey, plugins: Plugins) -> None:
    if plugins.overridePrevious:
        raise doc.error(
            (*loc, "overridePrevious"),
            "overridePrevious cannot be imported",
            "Parapet always generates its whole rule set; remove overridePrevious (disable alerts with "
            "page_alert/ticket_alert: disable: true)",
        )
    for i, plugin in enumerate(plugins.chain):
        if plugin.id in ACCEPTED_PLUGINS or plugin.id.startswith(CORE_PLUGIN_PREFIX):
            continue
        raise doc.error(
            (*loc, "chain", i, "id"),
            f"SLO plugin {preview(plugin.id)} cannot be imported",
            "Parapet does not run Sloth plugins. It already records a ratio of sums, guards alerts against low "
            "traffic and honours page_alert/ticket_alert for:; remove the plugin (see docs/migration.md)",
        )


__all__ = ["FORMAT", "build_sloth"]
