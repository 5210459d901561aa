"""Checks every spec format shares, whatever file they came from: label and annotation names, alert
templates, durations, periods, alert names, events SLIs built from PromQL templates, and whether an SLO's
alerts can fire at all.

The ``parapet/v1`` mapper (``parapet.spec.build``) and the Sloth and OpenSLO importers each validate their
own schema, then call these on the values they map; every error names the field in the user's file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

from parapet import conventions as c
from parapet.spec.durations import DurationError, parse_duration
from parapet.spec.model import SLI, SLO, SLIKind
from parapet.spec.preview import preview
from parapet.spec.promql import TemplateError, inspect, normalize
from parapet.spec.source import PathKey, SourceDocument

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# How long a burn must last before its alert fires, unless the spec says otherwise.
DEFAULT_FOR = {"page": "2m", "ticket": "15m"}


def check_labels(doc: SourceDocument, loc: PathKey, labels: Mapping[str, str], *, reserved: Iterable[str] = ()) -> None:
    taken = c.RESERVED_LABELS | set(reserved)
    for name, value in labels.items():
        _check_name(doc, (*loc, name), name, "label")
        if name in taken:
            raise doc.error(
                (*loc, name), f"label {preview(name)} is set by Parapet itself", "choose another label name", key=True
            )
        if value == "":
            raise doc.error(
                (*loc, name),
                f"label {preview(name)} has an empty value",
                "Prometheus drops a label whose value is empty: give it a value or remove it",
            )
        check_template(doc, (*loc, name), value)


def check_annotations(doc: SourceDocument, loc: PathKey, annotations: Mapping[str, str]) -> None:
    for name, value in annotations.items():
        _check_name(doc, (*loc, name), name, "annotation")
        check_template(doc, (*loc, name), value)


def _check_name(doc: SourceDocument, loc: PathKey, name: str, what: str) -> None:
    if not LABEL_NAME.match(name) or name.startswith("__"):
        raise doc.error(
            loc,
            f"{preview(name)} is not a valid Prometheus {what} name",
            "use letters, digits and '_', not starting with a digit or '__'",
            key=True,
        )


def check_template(doc: SourceDocument, loc: PathKey, value: str) -> None:
    """Alert labels and annotations are Go templates in Prometheus: refuse an action left open."""
    open_at: int | None = None
    for match in re.finditer(r"\{\{|\}\}", value):
        if match.group() == "{{":
            if open_at is not None:
                break
            open_at = match.start()
        elif open_at is not None:
            open_at = None
    else:
        if open_at is None:
            return
    raise doc.error(
        loc,
        "template action '{{' is not closed by '}}'",
        'Prometheus templates alert labels and annotations; close it, or write {{ "{{" }} for a literal {{',
    )


def pairs(mapping: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def check_duration(doc: SourceDocument, loc: PathKey, text: str) -> str:
    """A Prometheus duration (``for:``, ``max_age:``), returned as written."""
    try:
        parse_duration(text)
    except DurationError as exc:
        raise doc.error(loc, exc.message, exc.hint) from None
    return text


MAX_PERIOD_DAYS = 3650


def checked_period(doc: SourceDocument, loc: PathKey, text: str) -> int:
    days = period_days(text)
    if days > MAX_PERIOD_DAYS:
        raise doc.error(loc, f"period {text} is longer than {MAX_PERIOD_DAYS} days", "use a period such as 30d or 90d")
    return days


def period_days(text: str) -> int:
    """Days of a period the schema already checked (``30d``, ``4w``)."""
    return parse_duration(text) // timedelta(days=1)


def check_slo(doc: SourceDocument, loc: PathKey, slo: SLO, spec_labels: tuple[tuple[str, str], ...] = ()) -> None:
    """Checks on a built SLO, whatever format it came from: a grouping label may not also be a fixed alert
    label (every group's alert would get the same label set and the rule would fail), and an alerting
    tier must be able to fire."""
    if slo.alerting is not None:
        fixed = {name for name, _ in (*spec_labels, *slo.labels, *slo.alerting.labels)}
        for tier in slo.alerting.tiers:
            fixed.update(name for name, _ in tier.labels)
        fixed.add(slo.alerting.severity_label)
        clash = sorted(set(slo.group_by) & fixed)
        if clash:
            raise doc.error(
                loc,
                f"group_by label {preview(clash[0])} of SLO {preview(slo.name)} is also a fixed label of its alerts",
                "each group's alert would carry the same label set; rename one of the two",
            )
    check_reachable(doc, loc, slo)


def check_reachable(doc: SourceDocument, loc: PathKey, slo: SLO) -> None:
    """Refuse an alerting tier that could never fire: its every pair would need an error ratio above 1."""
    from parapet.slo.windows import slo_window_pairs

    if slo.alerting is None:
        return
    for tier in slo.alerting.tiers:
        pairs_ = [p for p in slo_window_pairs(slo) if p.severity == tier.severity]
        if tier.enabled and pairs_ and all(p.factor * slo.error_budget >= 1 for p in pairs_):
            lowest = min(p.factor for p in pairs_)
            raise doc.error(
                loc,
                f"with objective {slo.objective}% the {tier.severity} alert could never fire "
                f"(it needs an error ratio above {lowest * slo.error_budget:.3g})",
                f"an objective is a percentage: write 99.9 for 99.9% (not 0.999), or disable the {tier.severity} tier",
            )


def check_alert_name(doc: SourceDocument, loc: PathKey, name: str) -> str:
    """An alert name Prometheus accepts (a metric name without ':'), returned as written."""
    if not ALERT_NAME.match(name):
        raise doc.error(
            loc,
            f"{preview(name)} is not a valid alert name",
            "use letters, digits and '_', starting with a letter or '_', such as MyServiceHighErrorRate",
        )
    return name


def fill_template(template: str, **values: str) -> str:
    """Replace ``{name}`` placeholders; any other brace is left as written (URLs may hold braces)."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def events_sli(
    doc: SourceDocument,
    loc: PathKey,
    error_query: str | None,
    good_query: str | None,
    total_query: str,
    group_by: tuple[str, ...],
    *,
    error_field: str = "error_query",
    good_field: str = "good_query",
    total_field: str = "total_query",
    locations: Mapping[str, PathKey] | None = None,
) -> SLI:
    """An events SLI from its query templates, each parsed and checked against ``group_by``.

    Errors about a query point at ``(*loc, field)``, or at ``locations[field]`` when given (an importer
    whose queries sit deeper than one key below ``loc``).
    """
    where = dict(locations or {})
    if (error_query is None) == (good_query is None):
        raise doc.error(
            loc,
            f"an events SLI needs exactly one of {error_field} and {good_field}",
            f"give {error_field} (bad events) or {good_field} (good events), with {total_field}",
        )
    checked: dict[str, str] = {}
    modes: set[str] = set()
    for field, query in ((error_field, error_query), (good_field, good_query), (total_field, total_query)):
        if query is None:
            continue
        text = normalize(query)
        at = where.get(field, (*loc, field))
        try:
            info = inspect(text)
        except TemplateError as exc:
            raise doc.error(at, str(exc), exc.hint) from None
        if info.result_labels is not None and info.result_labels != frozenset(group_by):
            have = ", ".join(sorted(info.result_labels)) or "no labels"
            want = ", ".join(group_by) or "no labels"
            raise doc.error(
                at,
                f"query aggregates to {have} but the SLO groups by {want}",
                f"aggregate with sum by ({', '.join(group_by)}) (...)" if group_by else "aggregate with sum(...)",
            )
        if info.result_labels is None and info.simple:
            raise doc.error(
                at,
                "query is not aggregated (or aggregates with without()): it would yield one ratio per series",
                f"wrap it in sum by ({', '.join(group_by)}) (...)" if group_by else "wrap it in sum(...)",
            )
        modes.add(info.mode)
        checked[field] = text
    if "count" in modes and "rate" in modes:
        raise doc.error(
            where.get(total_field, (*loc, total_field)),
            "queries mix rate() and increase()",
            "use rate() in every query of the SLI (or increase() in every one)",
        )
    return SLI(
        kind=SLIKind.EVENTS,
        total=checked[total_field],
        errors=checked.get(error_field),
        good=checked.get(good_field),
        source="custom",
        per_window="count" in modes,
    )
