"""``parapet gen slo``: SLOs to Prometheus recording and multiwindow, multi-burn-rate alerting rules.

The chain per SLO, evaluated top to bottom in one rule group at a fixed ``interval:`` (1m; Prometheus
and vmalert run a group's rules in order, so each rule sees the values the rules above it wrote in
the same evaluation):

1. for each window up to ``max_raw_window`` (5m … 6h): the events rate and the errors rate from the
   SLI's own queries, counted with ``increase()`` and divided by the window, then the error ratio
   ``errors / events``. ``increase()`` means the same on every engine: exactly the window's events on
   VictoriaMetrics, and on Prometheus ``rate() x window`` (its ``rate()`` is ``increase()`` divided by
   the window). VictoriaMetrics' ``rate()`` divides by the time the samples cover instead, which
   overstates the count, and the error ratio, on a series younger than the window;
2. for longer windows (1d, 3d): the events of the recorded 5m rates, ``sum_over_time(...) / samples
   per window``, which keeps the ratio of sums exact at a fraction of the cost of ``rate()`` over days
   of raw samples, and counts only the history that exists (no self-referencing "since" series);
3. the period error ratio ``sum_over_time(errors 5m) / sum_over_time(events 5m)``: a ratio of sums,
   not Sloth's mean of 5-minute ratios, so a quiet hour cannot outweigh a busy one;
4. the current burn rate, period burn rate, budget remaining, objective, budget, period and an info
   series;
5. the page and ticket alerts: each an ``or`` of window pairs that fire when both windows burn faster
   than ``factor``, and the long window holds enough events (the low-traffic guard).

Every rule is stateless: none reads its own earlier output, so the rules give the same answers when
replayed (``vmalert -replay``) or when a ruler restarts or moves the group to another replica.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from parapet import conventions as c
from parapet.slo.windows import WindowPair, evaluation_interval, is_raw, slo_recorded_windows, slo_window_pairs
from parapet.spec.durations import format_duration
from parapet.spec.model import SLO, AlertTier, Spec
from parapet.spec.promql import TemplateError, inspect, quote, render
from parapet.spec.sources import format_decimal
from parapet_cli import yamlout
from parapet_cli.generators import PlannedFile, header

EPSILON = "1e-12"  # divides by clamp_min(events, EPSILON): zero traffic gives 0, never NaN


def selector(spec: Spec, slo: SLO) -> str:
    return f"{{{c.LABEL_SERVICE}={quote(spec.service)}, {c.LABEL_SLO}={quote(slo.name)}}}"


def on_clause(slo: SLO) -> str:
    return f"on({', '.join(slo.group_by)})"


def _labels(spec: Spec, slo: SLO) -> dict[str, str]:
    return {c.LABEL_SERVICE: spec.service, c.LABEL_SLO: slo.name}


_RATE_CALL = re.compile(r"(?<![\w:])rate(\s*\()")


def as_increase(template: str) -> str | None:
    """The template with each ``rate(…[{{window}}])`` turned into ``increase(…[{{window}}])``.

    None when that would change more than the windowed rates (an ``irate``, or a ``rate()`` over a
    fixed range, which must stay a per-second rate) or when the query counts in another way.
    """
    if "irate" in template:
        return None
    converted, count = _RATE_CALL.subn(r"increase\1", template)
    if count == 0:
        return None
    try:
        info = inspect(converted)
    except TemplateError:
        return None
    if info.mode != "count" or count != sum(1 for s in info.selectors if s.windowed):
        return None
    return converted


def _sli_query(template: str, window: timedelta, per_window: bool) -> str:
    """The SLI query over ``window`` as events per second of the window: ``increase() / seconds``."""
    seconds = int(window.total_seconds())
    if not per_window:
        counting = as_increase(template)
        if counting is None:  # a query we cannot count with increase(): kept as written
            return render(template, format_duration(window))
        template = counting
    return f"({render(template, format_duration(window))}) / {seconds}"


def samples_per(window: timedelta) -> int:
    """Samples of a recorded series in ``window`` at the groups' evaluation interval."""
    return int(window / evaluation_interval())


def recording_rules(spec: Spec, slo: SLO) -> list[dict[str, Any]]:
    sel = selector(spec, slo)
    labels = _labels(spec, slo)
    sli = slo.sli
    budget = format_decimal(slo.error_budget)
    rules: list[dict[str, Any]] = []

    def record(name: str, expr: str, extra: dict[str, str] | None = None) -> None:
        rule_labels = dict(labels)
        if extra:
            rule_labels.update(extra)
        rules.append({"record": name, "expr": expr, "labels": dict(sorted(rule_labels.items()))})

    five = format_duration(timedelta(minutes=5))
    for window in slo_recorded_windows(slo):
        w = format_duration(window)
        events = f"{c.events_rate(w)}{sel}"
        # The bad events are recorded for 5m only, which the long windows and the period sum up; every
        # other window records its events (for the low-traffic guard) and its error ratio, whose
        # numerator is computed in place: bad events = ratio x events.
        if is_raw(window, sli.timeslice):
            record(c.events_rate(w), _sli_query(sli.total, window, sli.per_window))
            if sli.errors is not None:
                errors = f"({_sli_query(sli.errors, window, sli.per_window)})\nor {on_clause(slo)}\n({events} * 0)"
            else:
                assert sli.good is not None
                good = _sli_query(sli.good, window, sli.per_window)
                errors = f"clamp_min({events} - {on_clause(slo)} ({good}), 0)\nor {on_clause(slo)}\n{events}"
        elif sli.timeslice:
            # time slices: the share of evaluations that were bad
            record(c.events_rate(w), f"avg_over_time({c.events_rate(five)}{sel}[{w}])")
            errors = f"avg_over_time({c.errors_rate(five)}{sel}[{w}])"
        else:
            # Each 5m rate sample stands for one evaluation interval of events, so the sum over the window
            # divided by the samples a full window holds is the window's events over its length: the same
            # meaning as the raw windows' increase() / seconds, exact on a history shorter than the window.
            n = samples_per(window)
            record(c.events_rate(w), f"sum_over_time({c.events_rate(five)}{sel}[{w}]) / {n}")
            errors = f"sum_over_time({c.errors_rate(five)}{sel}[{w}]) / {n}"
        if window == timedelta(minutes=5):
            record(c.errors_rate(w), errors)
            errors = f"{c.errors_rate(w)}{sel}"
            record(c.error_ratio(w), f"{errors}\n/\nclamp_min({events}, {EPSILON})")
            # the current burn rate; other windows' burn rates are their ratio / the budget, not recorded
            record(c.burn_rate(w), f"{c.error_ratio(w)}{sel} / {budget}")
        else:
            # the SLI's own query carries only its group_by labels: match on those
            record(c.error_ratio(w), f"(\n{_indent(errors)}\n)\n/ {on_clause(slo)}\nclamp_min({events}, {EPSILON})")
    period = f"{slo.period_days}d"
    errors_sum = f"sum_over_time({c.errors_rate(five)}{sel}[{period}])"
    events_sum = f"sum_over_time({c.events_rate(five)}{sel}[{period}])"
    if not sli.timeslice:
        # The events of the last few intervals are only in some of the 5m samples so far (the last
        # minute's in one of five): the current 5m rate stands in for the rest, so that a burst of errors
        # at the end of the data weighs what it should (2 samples' worth at 1m: (1 + 2 + 3 + 4) / 5).
        tail = format_decimal(Decimal(samples_per(timedelta(minutes=5)) - 1) / 2)
        errors_sum = f"({errors_sum} + {tail} * {c.errors_rate(five)}{sel})"
        events_sum = f"({events_sum} + {tail} * {c.events_rate(five)}{sel})"
    record(c.ERROR_RATIO_PERIOD, f"{errors_sum}\n/\nclamp_min({events_sum}, {EPSILON})")
    record(c.BURN_RATE_PERIOD, f"{c.ERROR_RATIO_PERIOD}{sel} / {budget}")
    record(c.BUDGET_REMAINING, f"1 - {c.BURN_RATE_PERIOD}{sel}")
    record(c.OBJECTIVE, f"vector({format_decimal(slo.objective_ratio)})")
    record(c.ERROR_BUDGET, f"vector({budget})")
    record(c.PERIOD_DAYS, f"vector({slo.period_days})")
    info = {
        **dict(spec.labels),
        **dict(slo.labels),
        c.INFO_LABEL_OBJECTIVE: format_decimal(slo.objective),
        c.INFO_LABEL_PERIOD: period,
        c.INFO_LABEL_SLI_KIND: str(sli.kind),
        c.INFO_LABEL_SLI_SOURCE: sli.source,
        c.INFO_LABEL_SPEC_FORMAT: spec.format,
    }
    record(c.INFO, "vector(1)", info)
    return rules


def min_events(slo: SLO, pair: WindowPair) -> int:
    """Events the long window must hold before its ratio alone may fire the pair.

    Automatic: enough that one bad event alone cannot push the ratio over the threshold. A window
    with fewer events may still fire when it holds ``min_errors`` bad events, so a low-traffic service
    in a real outage still alerts while a single failure among a handful of requests does not.
    """
    assert slo.alerting is not None
    if slo.sli.timeslice:
        return 0
    if slo.alerting.min_events is not None:
        return slo.alerting.min_events
    threshold = pair.factor * slo.error_budget
    return max(1, math.ceil(Decimal(1) / threshold))


def threshold(slo: SLO, pair: WindowPair) -> str:
    return format_decimal(pair.factor * slo.error_budget)


def pair_condition(spec: Spec, slo: SLO, pair: WindowPair) -> str:
    sel = selector(spec, slo)
    t = threshold(slo, pair)
    lines = [
        f"{c.error_ratio(pair.long_name)}{sel} > {t}",
        f"and {c.error_ratio(pair.short_name)}{sel} > {t}",
    ]
    need = min_events(slo, pair)
    if need > 0:
        assert slo.alerting is not None
        # Every recorded rate is the window's events / its seconds, so rate x seconds counts them. The
        # count is rounded to whole events: VictoriaMetrics keeps 12 significant digits, and 3 errors over
        # 6h come back as 2.99999999999808.
        span = int(pair.long.total_seconds())
        events = f"{c.events_rate(pair.long_name)}{sel}"
        errors = f"{c.error_ratio(pair.long_name)}{sel} * {events}"  # bad events: the ratio x all events
        lines.append(
            f"and (\n  round({events} * {span}) >= {need}\n"
            f"  or round({errors} * {span}) >= {slo.alerting.min_errors}\n)"
        )
    return "\n".join(lines)


def tier_pairs(slo: SLO, tier: AlertTier) -> list[WindowPair]:
    return [p for p in slo_window_pairs(slo) if p.severity == tier.severity]


def alert_rules(spec: Spec, slo: SLO) -> list[dict[str, Any]]:
    alerting = slo.alerting
    if alerting is None:
        return []
    rules: list[dict[str, Any]] = []
    for tier in alerting.tiers:
        pairs = tier_pairs(slo, tier)
        if not tier.enabled or not pairs:
            continue
        if len(pairs) == 1:
            expr = pair_condition(spec, slo, pairs[0])
        else:
            expr = "\nor\n".join("(\n" + _indent(pair_condition(spec, slo, p)) + "\n)" for p in pairs)
        rule: dict[str, Any] = {"alert": alerting.name, "expr": expr}
        if tier.for_ not in ("0s", "0m", "0h"):
            rule["for"] = tier.for_
        rule["labels"] = alert_labels(spec, slo, tier)
        rule["annotations"] = alert_annotations(spec, slo, tier, pairs)
        rules.append(rule)
    if alerting.absent_for is not None:
        tier = alerting.page if alerting.absent_severity == "page" else alerting.ticket
        rules.append(
            {
                "alert": c.absent_alert_name(alerting.name),
                "expr": f"absent({c.events_rate('5m')}{selector(spec, slo)})",
                "for": alerting.absent_for,
                "labels": dict(
                    sorted(
                        {
                            **dict(spec.labels),
                            **dict(slo.labels),
                            **dict(alerting.labels),
                            alerting.severity_label: tier.label_value,
                            **_labels(spec, slo),
                        }.items()
                    )
                ),
                "annotations": dict(
                    sorted(
                        {
                            c.ANNOTATION_SUMMARY: f"{spec.service} {slo.name}: no SLI data",
                            c.ANNOTATION_DESCRIPTION: (
                                f"No events have been recorded for SLO {slo.name} of {spec.service} for "
                                f"{alerting.absent_for}: the service may be down, or its metrics are no longer scraped "
                                "or have been renamed. Budget and burn-rate alerts cannot fire without data."
                            ),
                            c.ANNOTATION_RUNBOOK: alerting.runbook_url,
                            **({c.ANNOTATION_DASHBOARD: alerting.dashboard_url} if alerting.dashboard_url else {}),
                        }.items()
                    )
                ),
            }
        )
    return rules


def alert_labels(spec: Spec, slo: SLO, tier: AlertTier) -> dict[str, str]:
    assert slo.alerting is not None
    labels = {**dict(spec.labels), **dict(slo.labels), **dict(tier.labels)}
    labels[slo.alerting.severity_label] = tier.label_value
    # the series carry them already; stating them keeps rules of SLOs that share an alert name distinct
    labels.update(_labels(spec, slo))
    return dict(sorted(labels.items()))


def _group_suffix(slo: SLO) -> str:
    if not slo.group_by:
        return ""
    return " (" + ", ".join(f"{g}={{{{ $labels.{g} }}}}" for g in slo.group_by) + ")"


def alert_annotations(spec: Spec, slo: SLO, tier: AlertTier, pairs: Iterable[WindowPair]) -> dict[str, str]:
    assert slo.alerting is not None
    alerting = slo.alerting
    objective = format_decimal(slo.objective)
    speed = "fast" if tier.severity == "page" else "steadily"
    described = " or ".join(f"{format_decimal(p.factor)}x over {p.long_name} and {p.short_name}" for p in pairs)
    first = next(iter(pairs))
    exhaust = format_duration(timedelta(seconds=int(slo.period_days * 86400 / float(first.factor))))
    annotations = {
        c.ANNOTATION_SUMMARY: f"{spec.service} {slo.name}{_group_suffix(slo)}: error budget is burning {speed}",
        c.ANNOTATION_DESCRIPTION: (
            (f"{_literal(slo.description.rstrip('.'))}. " if slo.description else "")
            + f"SLO {slo.name} of {spec.service} ({objective}% over {slo.period_days}d) is burning its error budget "
            f"faster than {described}. At {format_decimal(first.factor)}x the whole budget is gone in {exhaust}."
        ),
        c.ANNOTATION_RUNBOOK: alerting.runbook_url,
    }
    if alerting.dashboard_url:
        annotations[c.ANNOTATION_DASHBOARD] = alerting.dashboard_url
    annotations.update(dict(alerting.annotations))
    annotations.update(dict(tier.annotations))
    return dict(sorted(annotations.items()))


def _literal(text: str) -> str:
    """Text that Prometheus' annotation templating prints as written."""
    return text.replace("{{", '{{ "{{" }}')


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def rule_groups(spec: Spec) -> list[dict[str, Any]]:
    return [
        {
            "name": c.group_name(spec.service, slo.name),
            "interval": format_duration(evaluation_interval()),
            "rules": recording_rules(spec, slo) + alert_rules(spec, slo),
        }
        for slo in spec.slos
    ]


def generate(spec: Spec, spec_name: str) -> list[PlannedFile]:
    """The rule file, and next to it its promtool unit-test file."""
    from parapet_cli.generators.slo_tests import test_file

    rules_name = c.rules_file(spec.service)
    rules = yamlout.dump({"groups": rule_groups(spec)}, header(spec_name))
    files = [PlannedFile(rules_name, rules, "slo")]
    tests = test_file(spec, rules_name, spec_name)
    if tests is not None:
        files.append(PlannedFile(c.rules_test_file(spec.service), tests, "slo"))
    return files
