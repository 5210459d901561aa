"""promtool unit tests for the generated rules: for every SLO one case where every event fails (the
alerts fire, the error ratio reads 1) and one where none fails (nothing fires, the ratio reads 0).

Input series are synthesised from the SLI's own selectors: a "bad" series matches the error selector
(and the total selector of the same metric), a "good" series matches the total selector but not the
error selector. Queries too intricate to synthesise for (subqueries, offsets, unusual functions) get
no case, and the file says so in a comment; every other SLO is covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from parapet import conventions as c
from parapet.slo.windows import window_pairs
from parapet.spec.model import SLO, Spec
from parapet.spec.promql import Selector, TemplateError, inspect, parse_duration, quote
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


def synthesize(slo: SLO) -> tuple[list[Series], dict[str, str]]:
    """Input series for an SLO's SLI and the group label values they carry."""
    sli = slo.sli
    group = {g: f"{g}-1" for g in slo.group_by}
    if sli.timeslice:
        return [], group
    x_template = sli.errors if sli.errors is not None else sli.good
    assert x_template is not None
    try:
        total, x = inspect(sli.total), inspect(x_template)
    except TemplateError as exc:  # pragma: no cover - templates were checked at load
        raise CannotSynthesize(str(exc)) from None
    if not (total.simple and x.simple):
        raise CannotSynthesize("the queries use functions or modifiers beyond sum, rate and increase")
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
    return [Series(labels, role) for labels, role in series.items()], group


def _freshness_series(slo: SLO, group: dict[str, str], stale: bool, samples: int) -> list[dict[str, str]]:
    match = re.search(r"parapet_job_last_success_timestamp_seconds\{([^}]*)\}", slo.sli.total)
    assert match is not None
    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
    labels.update(group)
    inner = ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
    assert slo.sli.errors is not None
    bound = re.search(r"> bool (\d+)", slo.sli.errors)
    assert bound is not None
    # promtool's clock starts at 0: a stale job last succeeded max_age + 1h before that
    values = f"-{int(bound.group(1)) + 3600}x{samples}" if stale else f"0+60x{samples}"
    return [{"series": f"parapet_job_last_success_timestamp_seconds{{{inner}}}", "values": values}]


def _minutes(duration: str) -> int:
    return int(parse_duration(duration) / timedelta(minutes=1))


def cases(spec: Spec, slo: SLO, shared_alertnames: set[str]) -> list[dict[str, Any]]:
    series, group = synthesize(slo)
    alerting = slo.alerting
    tiers = [t for t in (alerting.tiers if alerting else ()) if t.enabled and tier_pairs(slo, t)]
    eval_minutes = max([_minutes(t.for_) for t in tiers] + [0]) + 5
    samples = eval_minutes + 5
    rate = 1
    for tier in tiers:
        for pair in tier_pairs(slo, tier):
            rate = max(rate, -(-min_events(slo, pair) // int(pair.long.total_seconds())) + 1)
    per_minute = 60 * rate
    eval_time = f"{eval_minutes}m"
    ids = {c.LABEL_SERVICE: spec.service, c.LABEL_SLO: slo.name, **group}
    id_text = ", ".join(f"{k}={quote(v)}" for k, v in sorted(ids.items()))

    def inputs(failing: bool) -> list[dict[str, str]]:
        if slo.sli.timeslice:
            return _freshness_series(slo, group, failing, samples)
        out = []
        for s in series:
            counting = s.role == "all" or (s.role == "bad") == failing
            out.append({"series": s.render(), "values": f"0+{per_minute}x{samples}" if counting else f"0x{samples}"})
        return out

    slo_selector = f"{{{c.LABEL_SERVICE}={quote(spec.service)}, {c.LABEL_SLO}={quote(slo.name)}}}"

    def ratio_check(value: int) -> dict[str, Any]:
        return {
            "expr": f"{c.error_ratio('5m')}{slo_selector}",
            "eval_time": eval_time,
            "exp_samples": [{"labels": f"{c.error_ratio('5m')}{{{id_text}}}", "value": value}],
        }

    failing: dict[str, Any] = {
        "name": f"{slo.name}: every event fails, "
        + (
            " and ".join(t.severity for t in tiers) + (" fire" if len(tiers) > 1 else " fires")
            if tiers
            else "the error ratio reads 1"
        ),
        "interval": "1m",
        "input_series": inputs(True),
    }
    quiet: dict[str, Any] = {
        "name": f"{slo.name}: no event fails, nothing fires",
        "interval": "1m",
        "input_series": inputs(False),
        "promql_expr_test": [ratio_check(0)],
    }
    failing["promql_expr_test"] = [ratio_check(1)]
    if alerting is not None and tiers:
        expected = []
        templated = False
        for tier in tiers:
            labels = {**alert_labels(spec, slo, tier), **ids}
            annotations = {}
            for key, value in alert_annotations(spec, slo, tier, tier_pairs(slo, tier)).items():
                for g, v in group.items():
                    value = value.replace(f"{{{{ $labels.{g} }}}}", v)
                templated = templated or "{{" in value
                annotations[key] = value
            expected.append({"exp_labels": dict(sorted(labels.items())), "exp_annotations": annotations})
        if templated or alerting.name in shared_alertnames:
            failing["promql_expr_test"].append(
                {
                    "expr": f'ALERTS{{alertname={quote(alerting.name)}, alertstate="firing", '
                    f"{c.LABEL_SLO}={quote(slo.name)}}}",
                    "eval_time": eval_time,
                    "exp_samples": [
                        {
                            "labels": "ALERTS{"
                            + ", ".join(
                                f"{k}={quote(v)}"
                                for k, v in sorted(
                                    {**e["exp_labels"], "alertname": alerting.name, "alertstate": "firing"}.items()
                                )
                            )
                            + "}",
                            "value": 1,
                        }
                        for e in expected
                    ],
                }
            )
        else:
            failing["alert_rule_test"] = [{"eval_time": eval_time, "alertname": alerting.name, "exp_alerts": expected}]
        quiet["alert_rule_test"] = [{"eval_time": eval_time, "alertname": alerting.name, "exp_alerts": []}]
        if alerting.absent_for is not None:
            quiet["alert_rule_test"].append(
                {"eval_time": eval_time, "alertname": c.absent_alert_name(alerting.name), "exp_alerts": []}
            )
    return [failing, quiet]


def test_file(spec: Spec, rules_name: str, spec_name: str) -> bytes | None:
    names = [s.alerting.name for s in spec.slos if s.alerting is not None]
    shared = {n for n in names if names.count(n) > 1}
    tests: list[dict[str, Any]] = []
    skipped: list[str] = []
    for slo in spec.slos:
        try:
            tests.extend(cases(spec, slo, shared))
        except CannotSynthesize as exc:
            skipped.append(f"# No cases for SLO {slo.name}: {exc}.\n")
    if not tests:
        return None
    _ = window_pairs  # the windows the cases rely on come from the same policy as the rules
    head = header(spec_name) + "# Run: promtool test rules " + "<this file>\n" + "".join(skipped)
    body = {"rule_files": [rules_name], "evaluation_interval": "1m", "tests": tests}
    return yamlout.dump(body, head)
