"""PAR410: an SLO of the spec groups or selects its PromQL by a label that is unbounded by nature."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as pp

from parapet.errors import SpecError
from parapet.spec.promql import TemplateError, parse, render
from parapet.spec.source import PathKey, SourceDocument, load_documents
from parapet.spec.sources import HTTP_SOURCES
from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Site
from parapet_cli.analyzers.cardinality.names import unbounded_name
from parapet_cli.analyzers.cardinality.rule import Config, Rule, SpecInput
from parapet_cli.doctor.findings import Confidence, Finding, Severity

# Labels an instrumentor fills with the route template, by the metrics that carry them (``path`` of
# starlette_exporter is the template, not the raw path).
_ROUTE_LABELS: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    ((s.requests, *((s.histogram,) if s.histogram else ())), s.route_label)
    for s in HTTP_SOURCES.values()
    if s.route_label
)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}

GROUPED = "grouped"  # by (…) of an aggregation, group_left/right (…), or the SLO's group_by
MATCHED = "matched"  # a label matcher of a selector
KEPT = "kept"  # carried into the result: the metric declares it and nothing aggregates it away


@dataclass(frozen=True)
class Hit:
    how: str
    label: str
    metric: str
    where: str = ""  # the definition that declares the label, for KEPT


def _series_names(d: Definition) -> set[str]:
    if d.name is None:
        return set()
    base = d.name.removesuffix("_total") if d.kind == "counter" else d.name
    return {d.name, base, *(base + s for s in _SUFFIXES.get(d.kind, ()))}


def _by_series(index: Index) -> dict[str, Definition]:
    out: dict[str, Definition] = {}
    for d in index.by_key.values():
        if d.labels and not d.otel:
            for name in _series_names(d):
                out.setdefault(name, d)
    return out


# Restriction of the labels that survive to the result: ("all", excluded) or ("only", kept).
Keep = tuple[str, frozenset[str]]


def _narrow(keep: Keep, by: bool, labels: list[str]) -> Keep:
    mode, have = keep
    given = frozenset(labels)
    if by:
        return ("only", given - have if mode == "all" else have & given)
    return ("all", have | given) if mode == "all" else ("only", have - given)


def _kept(keep: Keep, label: str) -> bool:
    mode, have = keep
    return label not in have if mode == "all" else label in have


def query_hits(query: str, definitions: dict[str, Definition]) -> list[Hit]:
    """The labels a query groups by, matches on, or keeps from a metric the code defines."""
    expr = parse(render(query, "5m"))
    hits: list[Hit] = []
    selectors: list[str] = []

    def first_name(node: Any) -> str:
        before = len(selectors)
        walk(node, ("only", frozenset()), collect=False)
        found = selectors[before:]
        del selectors[before:]
        return found[0] if found else "<query>"

    def walk(node: Any, keep: Keep, collect: bool = True) -> None:
        if isinstance(node, pp.MatrixSelector):
            walk(node.vector_selector, keep, collect)
        elif isinstance(node, pp.VectorSelector):
            name = node.name or next((m.value for m in node.matchers.matchers if m.name == "__name__"), "")
            selectors.append(name)
            if not collect:
                return
            for m in node.matchers.matchers:
                if m.name != "__name__":
                    hits.append(Hit(MATCHED, m.name, name))
            d = definitions.get(name)
            if d is not None:
                where = f"{d.site.path}:{d.site.line}"
                hits.extend(Hit(KEPT, label, name, where) for label in d.labels or () if _kept(keep, label))
        elif isinstance(node, pp.AggregateExpr):
            modifier = node.modifier
            inner = keep
            if modifier is None:
                inner = ("only", frozenset())
            else:
                by = "Without" not in str(modifier.type)
                inner = _narrow(keep, by, list(modifier.labels))
                if by and collect:
                    metric = first_name(node.expr)
                    hits.extend(Hit(GROUPED, label, metric) for label in modifier.labels)
            if str(node.op) in ("topk", "bottomk", "quantile", "count_values"):
                inner = keep  # these keep (or add) labels of their input
            walk(node.expr, inner, collect)
        elif isinstance(node, pp.BinaryExpr):
            bin_modifier = node.modifier
            if bin_modifier is not None and collect:
                metric = first_name(node.lhs)
                hits.extend(Hit(GROUPED, label, metric) for label in bin_modifier.group_labels or ())
            walk(node.lhs, keep, collect)
            walk(node.rhs, keep, collect)
        elif isinstance(node, pp.Call):
            for arg in node.args:
                if isinstance(arg, pp.Expr):
                    walk(arg, keep, collect)
        elif isinstance(node, pp.ParenExpr | pp.SubqueryExpr | pp.UnaryExpr):
            walk(node.expr, keep, collect)

    walk(expr, ("all", frozenset()))
    return hits


# ------------------------------------------------------------------------------------------ spec positions


def _get(data: Any, path: PathKey) -> Any:
    for part in path:
        found = (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        )
        if not found:
            return None
        data = data[part]
    return data


class SpecLines:
    """Where a label is written in the spec: inside the SLO's entry when it can be found by name (``name:`` of
    parapet/v1 and Sloth, ``metadata.name`` of OpenSLO), else anywhere in the file."""

    def __init__(self, spec: SpecInput) -> None:
        self.path = spec.path
        self.lines = spec.text.splitlines()
        try:
            self.docs: list[SourceDocument] = load_documents(Path(spec.path), spec.text)
        except SpecError:
            self.docs = []

    def entry(self, slo: str) -> tuple[SourceDocument, PathKey] | None:
        for doc in self.docs:
            for path in sorted(doc.values, key=lambda p: doc.values[p]):
                if path and path[-1] == "name" and _get(doc.data, path) == slo:
                    entry = path[:-1]
                    return doc, entry[:-1] if entry and entry[-1] == "metadata" else entry
        return None

    def site(self, slo: str, *words: str) -> Site:
        """The first place that names one of ``words`` (in order): in the SLO's entry, else anywhere."""
        patterns = [re.compile(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])") for w in words if w]
        found = self.entry(slo)
        scopes = [found] if found is not None else []
        scopes += [(doc, ()) for doc in self.docs]
        for doc, prefix in scopes:
            for word in patterns:
                for path, (line, col) in sorted(doc.values.items(), key=lambda kv: kv[1]):
                    value = _get(doc.data, path)
                    if path[: len(prefix)] == prefix and isinstance(value, str) and word.search(value):
                        return self._at(line, col, word)
        if found is not None:
            at = found[0].locate(found[1])
            return self._at(at.line or 1, at.column or 1, None)
        return self._at(1, 1, None)

    def _at(self, line: int, col: int, word: re.Pattern[str] | None) -> Site:
        """The first line from ``line`` on (within a few, for block scalars) that names the word."""
        for number in range(line, min(line + 20, len(self.lines)) + 1 if word is not None else line):
            match = word.search(self.lines[number - 1]) if number >= 1 and word is not None else None
            if match is not None:
                return Site(self.path, number, match.start() + 1, self.lines[number - 1].strip())
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return Site(self.path, line, col, text)


class SloQueryLabel(Rule):
    """Parapet turns every SLO into recording rules and alerts over several windows, so a query grouped by a label
    keeps one series per value of it in every rule: grouped by ``tenant_id`` or ``path``, the rules store one set
    of series per tenant or URL, and the multi-window alerts fire per value. A matcher on such a label, or a
    query that does not aggregate it away from a metric the code declares with it, says the metric itself
    carries it, which is the cardinality problem at its source. The label names are those PAR402 knows (ids,
    emails, paths and URLs, IPs, hostnames and pods, tokens, sessions, trace and request ids, timestamps, pids);
    ``allow-labels`` of the configuration wins, and the route label of a known instrumentor (``path`` of
    starlette_exporter holds the route template) is not reported."""

    ID = "PAR410"
    NAME = "slo-query-unbounded-label"
    TITLE = "An SLO's PromQL is grouped or matched by a label that is unbounded by nature"
    SEVERITY = Severity.ERROR
    MESSAGE = "the SLO queries over {metric} {detail}"
    FIX = (
        "group SLOs by a bounded label (plan, region, tier) or by none, and drop the unbounded label from the "
        "metric; if its values really are bounded, list it in allow-labels of [tool.parapet.cardinality]"
    )
    _SLO = (
        "  - name: {name}\n"
        "    objective: 99.9\n"
        "    group_by: [{group_by}]\n"
        "    alerting: {{runbook_url: https://runbooks.example.com/{name}}}\n"
        "    sli:\n"
        "      events:\n"
        "        error_query: {errors}\n"
        "        total_query: {total}\n"
    )
    _HEAD = "version: parapet/v1\nservice: shop\nslos:\n"
    VALID = (
        {
            "parapet.yaml": _HEAD
            + _SLO.format(
                name="checkout",
                group_by="plan",
                errors='sum by (plan) (rate(orders_total{outcome="failed"}[{{window}}]))',
                total="sum by (plan) (rate(orders_total[{{window}}]))",
            ),
        },
        # the route template of starlette_exporter is called path; the code's metric is aggregated away
        {
            "parapet.yaml": _HEAD
            + _SLO.format(
                name="api",
                group_by="",
                errors='sum(rate(starlette_requests_total{path!="/health", status_code=~"5.."}[{{window}}]))',
                total='sum(rate(starlette_requests_total{path!="/health"}[{{window}}]))',
            ),
            "app/metrics.py": "from prometheus_client import Counter\n"
            'JOBS = Counter("jobs_total", "Jobs.", ["worker_pod"])\n',
        },
        {
            "pyproject.toml": '[tool.parapet.cardinality]\nallow-labels = ["region_id"]\n',
            "parapet.yaml": _HEAD
            + "  - pack: web\n    group_by: [region_id]\n    alerting: {runbook_url: https://r.example.com/web}\n",
        },
    )
    INVALID = (
        {
            "parapet.yaml": _HEAD
            + _SLO.format(
                name="checkout",
                group_by="tenant_id",
                errors='sum by (tenant_id) (rate(orders_total{outcome="failed"}[{{window}}]))',
                total="sum by (tenant_id) (rate(orders_total[{{window}}]))",
            ),
        },
        # group_by of a starter pack becomes by (…) of every generated query
        {
            "parapet.yaml": _HEAD
            + "  - pack: web\n    group_by: [customer_email]\n    alerting: {runbook_url: https://r.example.com/web}\n",
        },
        # a matcher on the raw path: the metric carries it
        {
            "parapet.yaml": _HEAD
            + _SLO.format(
                name="search",
                group_by="",
                errors='sum(rate(search_requests_total{url=~"/search.*", code=~"5.."}[{{window}}]))',
                total='sum(rate(search_requests_total{url=~"/search.*"}[{{window}}]))',
            ),
        },
        # a Sloth spec is read the same way
        {
            "parapet.yaml": "version: prometheus/v1\nservice: api\nslos:\n"
            "  - name: requests\n"
            "    objective: 99.9\n"
            "    sli:\n"
            "      events:\n"
            '        error_query: sum(rate(http_requests_total{code=~"5..", pod_name!=""}[{{.window}}]))\n'
            "        total_query: sum(rate(http_requests_total[{{.window}}]))\n"
            "    alerting:\n"
            "      name: ApiErrors\n"
            "      annotations: {runbook_url: https://runbooks.example.com/api}\n"
            "      page_alert: {disable: true}\n"
            "      ticket_alert: {disable: true}\n",
        },
        # no aggregation: every label the code declares stays on the recording rules
        {
            "parapet.yaml": _HEAD
            + _SLO.format(
                name="jobs",
                group_by="",
                errors='rate(jobs_total{outcome="failure"}[{{window}}]) or on() vector(0)',
                total="rate(jobs_total[{{window}}]) or on() vector(0)",
            ),
            "app/metrics.py": "from prometheus_client import Counter\n"
            'JOBS = Counter("jobs_total", "Jobs.", ["outcome", "worker_hostname"])\n',
        },
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        return iter(())

    def check_spec(self, spec: SpecInput, index: Index, config: Config) -> Iterator[Finding]:
        definitions = _by_series(index)
        lines = SpecLines(spec)
        reported: dict[tuple[str, str, int], list[str]] = {}
        pending: list[tuple[tuple[str, str, int], Hit, Site, tuple[str, str], str]] = []
        for slo in spec.spec.slos:
            hits = [Hit(GROUPED, label, "") for label in slo.group_by]
            queries = [q for q in (slo.sli.total, slo.sli.errors, slo.sli.good) if q is not None]
            for query in queries:
                try:
                    hits += query_hits(query, definitions)
                except TemplateError:
                    continue
            names = {h.metric for h in hits if h.metric}
            route_labels = {label for metrics, label in _ROUTE_LABELS if names & set(metrics)}
            for hit in hits:
                reason = unbounded_name(hit.label)
                if reason is None or config.allowed(hit.label) or hit.label in route_labels:
                    continue
                metric = hit.metric or next(iter(sorted(names)), slo.name)
                site = lines.site(slo.name, hit.label, hit.metric if hit.how == KEPT else "")
                key = (hit.how, hit.label, site.line)
                if key not in reported:
                    reported[key] = []
                    pending.append((key, Hit(hit.how, hit.label, metric, hit.where), site, reason, slo.name))
                if slo.name not in reported[key]:
                    reported[key].append(slo.name)
        for key, hit, site, (why, instead), _ in pending:
            slos = ", ".join(reported[key])
            if hit.how == GROUPED:
                detail = f"are grouped by {hit.label} (SLO {slos}), which {why}"
                severity, confidence = Severity.ERROR, Confidence.HIGH
                hint = f"group by a bounded label or none; {instead}"
            elif hit.how == MATCHED:
                detail = f"match on {hit.label} (SLO {slos}): the metric carries {hit.label}, which {why}"
                severity, confidence = Severity.WARNING, Confidence.MEDIUM
                hint = f"drop {hit.label} from the metric; {instead}"
            else:
                detail = (
                    f"keep its label {hit.label} (SLO {slos}; declared at {hit.where}), which {why}: "
                    "nothing aggregates it away"
                )
                severity, confidence = Severity.WARNING, Confidence.MEDIUM
                hint = f"aggregate the query (sum by the labels you need), and drop {hit.label} from the metric"
            yield self.finding(
                site,
                metric=hit.metric,
                label=hit.label,
                detail=detail,
                hint=hint + "; or list it in allow-labels of [tool.parapet.cardinality]",
                severity=severity,
                confidence=confidence,
            )
