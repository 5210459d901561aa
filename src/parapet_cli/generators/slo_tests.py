"""promtool unit tests for the generated rules, in batches of SLOs: for every batch one case where
every event of every SLO fails (each SLO's alerts fire, its error ratio reads 1) and one where none
fails (nothing fires, every ratio reads 0).

Input series are synthesised from the SLI's own selectors: a "bad" series matches the error selector
(and the total selector of the same metric), a "good" series matches the total selector but not the
error selector. Queries too intricate to synthesise for (subqueries, offsets, unusual functions) get
no case, and the file says so in a comment; every other SLO is covered.

promtool evaluates every rule of the file in every case, so the run time grows with cases times
rules. SLOs therefore share cases: they are grouped, first fit in spec order, into batches whose
input series cannot disturb one another. Two SLOs are compatible when every series both need has the
same values in both cases, and neither SLO's selectors read a series only the other one needs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from parapet import conventions as c
from parapet.slo.windows import window_pairs
from parapet.spec.durations import parse_duration
from parapet.spec.model import SLO, AlertTier, Spec
from parapet.spec.promql import _SENTINEL, Selector, TemplateError, inspect, quote
from parapet_cli import yamlout
from parapet_cli.generators import header
from parapet_cli.generators.slo_rules import alert_annotations, alert_labels, min_events, tier_pairs

_GENERIC = (
    "a",
    "ok",
    "200",
    "500",
    "503",
    "5xx",
    "2xx",
    "success",
    "failure",
    "error",
    "timeout",
    "true",
    "false",
    "GET",
    "POST",
    "x",
    "0",
    "1",
    "/",
    "",
)


class CannotSynthesize(Exception):
    """The SLI's queries are too intricate to derive input series from."""


@dataclass(frozen=True)
class Series:
    labels: tuple[tuple[str, str], ...]  # includes __name__
    role: str  # bad | good | all (counts every event)

    def render(self) -> str:
        labels = dict(self.labels)
        name = labels.pop("__name__")
        inner = ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()) if v != "")
        return f"{name}{{{inner}}}" if inner else name


def _matches(value: str, op: str, pattern: str) -> bool:
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    try:
        hit = re.fullmatch(pattern, value) is not None
    except re.error as exc:
        raise CannotSynthesize(f"regex {pattern!r}: {exc}") from None
    return hit if op == "=~" else not hit


def _candidates(matchers: list[tuple[str, str, str]]) -> list[str]:
    out: list[str] = []
    for _, op, value in matchers:
        if op == "=":
            out.append(value)
        elif op == "=~":
            for alt in value.split("|"):
                out.append(re.sub(r"\\(.)", r"\1", alt.replace(".", "0").replace("(", "").replace(")", "")))
                out.append(alt.replace("(\\.0)?", "").replace("\\.", "."))
    out.extend(_GENERIC)
    return list(dict.fromkeys(out))


def _satisfy(
    name: str, matchers: list[tuple[str, str, str]], group: dict[str, str], avoid: list[Selector]
) -> tuple[tuple[str, str], ...]:
    by_label: dict[str, list[tuple[str, str, str]]] = {}
    for m in matchers:
        by_label.setdefault(m[0], []).append(m)
    for label, value in group.items():
        by_label.setdefault(label, []).insert(0, (label, "=~", re.escape(value) + "|.+"))
    labels: dict[str, str] = {"__name__": name}
    for label, ms in sorted(by_label.items()):
        pref = group.get(label)
        cands = ([pref] if pref is not None else []) + _candidates(ms)
        chosen = next((v for v in cands if all(_matches(v, op, val) for _, op, val in ms)), None)
        if chosen is None:
            raise CannotSynthesize(f"no value satisfies the matchers on {label}")
        labels[label] = chosen
    for sel in avoid:
        if not _selected(labels, sel):
            continue
        for label, op, val in sel.matchers:
            ours = by_label.get(label, [])
            cands = _candidates([(label, op, val), *ours])
            flip = next(
                (v for v in cands if not _matches(v, op, val) and all(_matches(v, o, p) for _, o, p in ours)), None
            )
            if flip is not None:
                labels[label] = flip
                break
        else:
            raise CannotSynthesize("cannot build a series that the total matches but the error query does not")
    return tuple(sorted(labels.items()))


def _selected(labels: dict[str, str], sel: Selector) -> bool:
    return all(_matches(labels.get(label, ""), op, val) for label, op, val in sel.matchers)


def synthesize(slo: SLO) -> tuple[list[Series], dict[str, str], tuple[Selector, ...]]:
    """Input series for an SLO's SLI, the group label values they carry, and every selector it reads."""
    sli = slo.sli
    group = {g: f"{g}-1" for g in slo.group_by}
    if sli.timeslice:
        return [], group, ()
    x_template = sli.errors if sli.errors is not None else sli.good
    assert x_template is not None
    try:
        total, x = inspect(sli.total), inspect(x_template)
    except TemplateError as exc:  # pragma: no cover - templates were checked at load
        raise CannotSynthesize(str(exc)) from None
    if not (total.simple and x.simple):
        raise CannotSynthesize("the queries use functions or modifiers beyond sum, rate and increase")
    selectors = (*total.selectors, *x.selectors)
    for sel in selectors:
        # inspect() parses the template with the placeholder replaced by a sentinel range; in a matcher
        # that value would end up in the series, while every rule reads its own window there instead
        if _SENTINEL in (sel.name or "") or any(_SENTINEL in value for _, _, value in sel.matchers):
            raise CannotSynthesize("the {{window}} placeholder is used inside a label matcher")
    tot_sels = [s for s in total.selectors if s.windowed]
    x_sels = [s for s in x.selectors if s.windowed]
    if any(s.name is None for s in (*tot_sels, *x_sels)):
        raise CannotSynthesize("a selector has no metric name")
    x_role, other_role = ("bad", "good") if sli.errors is not None else ("good", "bad")
    x_names = {s.name for s in x_sels}
    series: dict[tuple[tuple[str, str], ...], str] = {}
    for sel in x_sels:
        assert sel.name is not None
        merged = list(sel.matchers) + [m for t in tot_sels if t.name == sel.name for m in t.matchers]
        series.setdefault(_satisfy(sel.name, merged, group, []), x_role)
    for sel in tot_sels:
        assert sel.name is not None
        if sel.name in x_names:
            avoid = [s for s in x_sels if s.name == sel.name]
            series.setdefault(_satisfy(sel.name, list(sel.matchers), group, avoid), other_role)
        else:
            series.setdefault(_satisfy(sel.name, list(sel.matchers), group, []), "all")
    return [Series(labels, role) for labels, role in series.items()], group, selectors


_TIMESTAMP = c.JOB_LAST_SUCCESS


def _freshness(slo: SLO, group: dict[str, str]) -> tuple[Series, Selector, str, str]:
    """The last-success timestamp series, the selector that reads it, and its failing and quiet values."""
    match = re.search(_TIMESTAMP + r"\{([^}]*)\}", slo.sli.total)
    assert match is not None
    matchers = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
    labels = {**matchers, **group, "__name__": _TIMESTAMP}
    assert slo.sli.errors is not None
    bound = re.search(r"> bool (\d+)", slo.sli.errors)
    assert bound is not None
    # promtool's clock starts at 0: a stale job last succeeded max_age + 1h before that
    stale = f"-{int(bound.group(1)) + 3600}x{{n}}"
    selector = Selector(_TIMESTAMP, tuple(sorted((k, "=", v) for k, v in matchers.items())), False)
    return Series(tuple(sorted(labels.items())), "all"), selector, stale, "0+60x{n}"


def _minutes(duration: str) -> int:
    return int(parse_duration(duration) / timedelta(minutes=1))


@dataclass(frozen=True)
class Input:
    """One synthesised series and its values (``{n}`` stands for the sample count) in both cases."""

    labels: dict[str, str]  # includes __name__
    failing: str
    quiet: str


@dataclass(frozen=True)
class Plan:
    """What an SLO's cases need: input series by their rendered text, the selectors it reads, timing."""

    slo: SLO
    group: dict[str, str]
    inputs: dict[str, Input]
    selectors: tuple[Selector, ...]
    tiers: tuple[AlertTier, ...]
    eval_minutes: int


def _selects(sel: Selector, labels: dict[str, str]) -> bool:
    if sel.name is not None and sel.name != labels["__name__"]:
        return False
    try:
        return all(_matches(labels.get(label, ""), op, val) for label, op, val in sel.matchers)
    except CannotSynthesize:  # a regex Python cannot read: assume the worst
        return True


_LITERAL = re.compile(r"[\w/:@,;%=<>!'\"` -]+")  # a regex that only matches itself


def _selector_keys(sel: Selector) -> list[tuple[str | None, ...]]:
    """Index keys of a selector: every series it can read carries one of them (see Batch)."""
    if sel.name is None:
        return [(None,)]
    for label, op, value in sel.matchers:
        if op == "=" and value != "" and label != "__name__":
            return [(sel.name, label, value)]
    for label, op, value in sel.matchers:
        alts = value.split("|")
        if op == "=~" and label != "__name__" and all(_LITERAL.fullmatch(alt) for alt in alts):
            return [(sel.name, label, alt) for alt in dict.fromkeys(alts)]
    return [(sel.name,)]


def _series_keys(labels: dict[str, str]) -> list[tuple[str | None, ...]]:
    name = labels["__name__"]
    return [(name,), (None,)] + [(name, k, v) for k, v in sorted(labels.items()) if k != "__name__" and v != ""]


def plan(slo: SLO) -> Plan:
    series, group, selectors = synthesize(slo)
    alerting = slo.alerting
    tiers = tuple(t for t in (alerting.tiers if alerting else ()) if t.enabled and tier_pairs(slo, t))
    eval_minutes = max([_minutes(t.for_) for t in tiers] + [0]) + 5
    inputs: dict[str, Input] = {}
    if slo.sli.timeslice:
        stamp, selector, stale, fresh = _freshness(slo, group)
        inputs[stamp.render()] = Input(dict(stamp.labels), stale, fresh)
        return Plan(slo, group, inputs, (selector,), tiers, eval_minutes)
    rate = 1
    for tier in tiers:
        for pair in tier_pairs(slo, tier):
            rate = max(rate, -(-min_events(slo, pair) // int(pair.long.total_seconds())) + 1)
    counting = f"0+{60 * rate}x{{n}}"
    for s in series:
        failing = counting if s.role in ("all", "bad") else "0x{n}"
        quiet = counting if s.role in ("all", "good") else "0x{n}"
        inputs.setdefault(s.render(), Input(dict(s.labels), failing, quiet))
    return Plan(slo, group, inputs, selectors, tiers, eval_minutes)


class Batch:
    """SLOs that share cases, with their input series and selectors indexed for the compatibility test.

    A newcomer fits when every series it shares with the batch has the same values, none of its own
    series is read by a member's selector, and none of its selectors reads a member's series that it
    does not need itself. A selector can only read series that carry one of its keys (its first
    non-empty ``=`` matcher, the alternatives of a literal ``=~`` one, else just its metric name), so
    only those are tried: the test stays cheap when hundreds of SLOs read one metric.
    """

    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self._inputs: dict[str, Input] = {}
        self._series: dict[tuple[str | None, ...], list[tuple[str, Input]]] = {}
        self._selectors: dict[tuple[str | None, ...], list[Selector]] = {}

    def admits(self, new: Plan) -> bool:
        for key, mine in new.inputs.items():
            theirs = self._inputs.get(key)
            if theirs is not None:
                if (theirs.failing, theirs.quiet) != (mine.failing, mine.quiet):
                    return False
                continue
            for index in _series_keys(mine.labels):
                if any(_selects(sel, mine.labels) for sel in self._selectors.get(index, ())):
                    return False
        for sel in new.selectors:
            if sel.name is None:
                candidates: list[tuple[str, Input]] = list(self._inputs.items())
            else:
                candidates = [c for index in _selector_keys(sel) for c in self._series.get(index, ())]
            if any(key not in new.inputs and _selects(sel, theirs.labels) for key, theirs in candidates):
                return False
        return True

    def add(self, new: Plan) -> None:
        self.plans.append(new)
        for key, mine in new.inputs.items():
            if key in self._inputs:
                continue
            self._inputs[key] = mine
            name = mine.labels["__name__"]
            self._series.setdefault((name,), []).append((key, mine))
            for label, value in mine.labels.items():
                if label != "__name__" and value != "":
                    self._series.setdefault((name, label, value), []).append((key, mine))
        for sel in new.selectors:
            for index in _selector_keys(sel):
                self._selectors.setdefault(index, []).append(sel)


def batches(plans: list[Plan]) -> list[list[Plan]]:
    """Plans grouped first fit, in order: each joins the first batch it is compatible with."""
    out: list[Batch] = []
    for p in plans:
        batch = next((b for b in out if b.admits(p)), None)
        if batch is None:
            batch = Batch()
            out.append(batch)
        batch.add(p)
    return [b.plans for b in out]


def _alerts_series(alertname: str, slo: SLO, labels: list[dict[str, str]]) -> dict[str, Any]:
    """A check on the firing ALERTS series of one SLO, for names several SLOs share."""
    return {
        "expr": f'ALERTS{{alertname={quote(alertname)}, alertstate="firing", {c.LABEL_SLO}={quote(slo.name)}}}',
        "exp_samples": [
            {
                "labels": "ALERTS{"
                + ", ".join(
                    f"{k}={quote(v)}"
                    for k, v in sorted({**exp, "alertname": alertname, "alertstate": "firing"}.items())
                )
                + "}",
                "value": 1,
            }
            for exp in labels
        ],
    }


def _no_alerts_series(alertname: str, slo: SLO) -> dict[str, Any]:
    """No ALERTS series (firing or pending) of this name for this SLO, whoever else shares the name."""
    return {"expr": f"ALERTS{{alertname={quote(alertname)}, {c.LABEL_SLO}={quote(slo.name)}}}", "exp_samples": []}


@dataclass
class Checks:
    expr: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def checks(spec: Spec, p: Plan, shared_alertnames: set[str]) -> tuple[Checks, Checks]:
    """The failing and the quiet case's checks of one SLO (without eval_time)."""
    slo, group, alerting = p.slo, p.group, p.slo.alerting
    ids = {c.LABEL_SERVICE: spec.service, c.LABEL_SLO: slo.name, **group}
    id_text = ", ".join(f"{k}={quote(v)}" for k, v in sorted(ids.items()))
    slo_selector = f"{{{c.LABEL_SERVICE}={quote(spec.service)}, {c.LABEL_SLO}={quote(slo.name)}}}"

    def ratio_check(value: int) -> dict[str, Any]:
        return {
            "expr": f"{c.error_ratio('5m')}{slo_selector}",
            "exp_samples": [{"labels": f"{c.error_ratio('5m')}{{{id_text}}}", "value": value}],
        }

    failing = Checks([ratio_check(1)], [])
    quiet = Checks([ratio_check(0)], [])
    if alerting is None:
        return failing, quiet
    if p.tiers:
        expected = []
        templated = False
        for tier in p.tiers:
            labels = {**alert_labels(spec, slo, tier), **ids}
            annotations = {}
            for key, value in alert_annotations(spec, slo, tier, tier_pairs(slo, tier)).items():
                for g, v in group.items():
                    value = value.replace(f"{{{{ $labels.{g} }}}}", v)
                templated = templated or "{{" in value
                annotations[key] = value
            expected.append({"exp_labels": dict(sorted(labels.items())), "exp_annotations": annotations})
        shared = alerting.name in shared_alertnames
        if templated or shared:
            failing.expr.append(_alerts_series(alerting.name, slo, [e["exp_labels"] for e in expected]))
        else:
            failing.alerts.append({"alertname": alerting.name, "exp_alerts": expected})
        if shared:
            quiet.expr.append(_no_alerts_series(alerting.name, slo))
        else:
            quiet.alerts.append({"alertname": alerting.name, "exp_alerts": []})
    if alerting.absent_for is not None:
        quiet.expr.append(_no_alerts_series(c.absent_alert_name(alerting.name), slo))
    return failing, quiet


def _batch_name(number: int, plans: list[Plan]) -> str:
    names = [p.slo.name for p in plans]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"batch {number} ({shown})"


def cases(spec: Spec, number: int, plans: list[Plan], shared_alertnames: set[str]) -> list[dict[str, Any]]:
    """The failing and the quiet case of one batch."""
    eval_minutes = max(p.eval_minutes for p in plans)
    eval_time = f"{eval_minutes}m"
    samples = str(eval_minutes + 5)
    inputs: dict[str, Input] = {}
    for p in plans:
        for key, value in p.inputs.items():
            inputs.setdefault(key, value)
    name = _batch_name(number, plans)
    out: list[dict[str, Any]] = []
    per_slo = [checks(spec, p, shared_alertnames) for p in plans]
    for index, title in ((0, "every event fails"), (1, "no event fails, nothing fires")):
        case: dict[str, Any] = {
            "name": f"{name}: {title}",
            "interval": "1m",
            "input_series": [
                {"series": key, "values": (i.failing if index == 0 else i.quiet).replace("{n}", samples)}
                for key, i in inputs.items()
            ],
            "promql_expr_test": [
                {"expr": e["expr"], "eval_time": eval_time, "exp_samples": e["exp_samples"]}
                for pair in per_slo
                for e in pair[index].expr
            ],
        }
        alerts = [
            {"eval_time": eval_time, "alertname": a["alertname"], "exp_alerts": a["exp_alerts"]}
            for pair in per_slo
            for a in pair[index].alerts
        ]
        if alerts:
            case["alert_rule_test"] = alerts
        out.append(case)
    return out


def test_file(spec: Spec, rules_name: str, spec_name: str) -> bytes | None:
    names = [s.alerting.name for s in spec.slos if s.alerting is not None]
    names += [c.absent_alert_name(s.alerting.name) for s in spec.slos if s.alerting and s.alerting.absent_for]
    shared = {n for n, count in Counter(names).items() if count > 1}
    plans: list[Plan] = []
    skipped: list[str] = []
    for slo in spec.slos:
        try:
            plans.append(plan(slo))
        except CannotSynthesize as exc:
            skipped.append(f"# No cases for SLO {slo.name}: {exc}.\n")
    if not plans:
        return None
    tests = [case for number, batch in enumerate(batches(plans), 1) for case in cases(spec, number, batch, shared)]
    _ = window_pairs  # the windows the cases rely on come from the same policy as the rules
    head = header(spec_name) + "# Run: promtool test rules " + "<this file>\n" + "".join(skipped)
    body = {"rule_files": [rules_name], "evaluation_interval": "1m", "tests": tests}
    return yamlout.dump(body, head)
