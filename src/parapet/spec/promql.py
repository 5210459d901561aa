"""PromQL templates: the ``{{window}}`` placeholder, parsing, and what a query's result looks like.

Parsing uses ``promql-parser`` (bindings to the Rust crate GreptimeDB maintains), so a syntax error is
reported against the spec field at load time rather than by promtool after generation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser as pp

from parapet.spec.model import WINDOW_PLACEHOLDER

# {{window}}, {{ window }} and Sloth's {{.window}} / {{ .window }}
_PLACEHOLDER = re.compile(r"\{\{\s*\.?window\s*\}\}")
# A range no one writes by hand, so its matrix selectors can be told apart after parsing.
_SENTINEL = "7777s"
_SENTINEL_SECONDS = 7777

RATE_FUNCTIONS = frozenset({"rate", "irate"})
COUNT_FUNCTIONS = frozenset({"increase"})


class TemplateError(ValueError):
    """A PromQL template is unusable; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def normalize(template: str) -> str:
    """The template with every placeholder spelling turned into ``{{window}}``, trimmed."""
    return _PLACEHOLDER.sub(WINDOW_PLACEHOLDER, template.strip())


def has_placeholder(template: str) -> bool:
    return bool(_PLACEHOLDER.search(template))


def render(template: str, window: str) -> str:
    return _PLACEHOLDER.sub(window, template)


def parse(query: str) -> pp.Expr:
    """Parse a query; raises TemplateError with the parser's message."""
    try:
        return pp.parse(query)
    except ValueError as exc:
        raise TemplateError(
            f"PromQL does not parse: {exc}", "check brackets, quotes and operators in this query"
        ) from None


@dataclass(frozen=True)
class Selector:
    """A vector selector: metric name and matchers as (label, op, value), op one of = != =~ !~."""

    name: str | None
    matchers: tuple[tuple[str, str, str], ...]
    windowed: bool  # inside a matrix selector that uses {{window}}


_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}


def _op(matcher: pp.Matcher) -> str:
    text = str(matcher.op)
    for key, op in _OPS.items():
        if text.endswith("." + key) or text == key:
            return op
    raise TemplateError(f"unknown matcher operator {text}", "use =, !=, =~ or !~")


@dataclass(frozen=True)
class TemplateInfo:
    selectors: tuple[Selector, ...]
    mode: str  # "rate" (per-second), "count" (increase over the window) or "other"
    result_labels: frozenset[str] | None  # labels the result carries, None when unknown
    simple: bool  # only selectors, rate/increase, aggregations, arithmetic: safe to synthesise tests


_SIMPLE_CALLS = RATE_FUNCTIONS | COUNT_FUNCTIONS | {"clamp_min", "clamp_max", "abs"}


def inspect(template: str) -> TemplateInfo:
    """Parse a template and describe it. Raises TemplateError when it cannot serve as an SLI query."""
    if not has_placeholder(template):
        raise TemplateError(
            "query has no {{window}} placeholder",
            "write the range as [{{window}}], e.g. sum(rate(http_requests_total[{{window}}]))",
        )
    expr = parse(render(template, _SENTINEL))
    selectors: list[Selector] = []
    window_funcs: set[str] = set()
    simple = [True]

    def walk(node: pp.Expr, parent_call: str | None) -> None:
        if isinstance(node, pp.MatrixSelector):
            windowed = int(node.range.total_seconds()) == _SENTINEL_SECONDS
            if windowed:
                window_funcs.add(parent_call or "")
            selectors.append(_selector(node.vector_selector, windowed))
            if node.vector_selector.offset is not None or node.vector_selector.at is not None:
                simple[0] = False
        elif isinstance(node, pp.VectorSelector):
            selectors.append(_selector(node, False))
            simple[0] = False
        elif isinstance(node, pp.Call):
            name = node.func.name
            if name not in _SIMPLE_CALLS:
                simple[0] = False
            for arg in node.args:
                if isinstance(arg, pp.Expr):
                    walk(arg, name)
        elif isinstance(node, pp.AggregateExpr):
            if str(node.op) not in ("sum", "max", "min", "avg"):
                simple[0] = False
            walk(node.expr, None)
        elif isinstance(node, pp.BinaryExpr):
            if str(node.op) not in ("+", "-", "*", "/"):
                simple[0] = False
            walk(node.lhs, None)
            walk(node.rhs, None)
        elif isinstance(node, pp.ParenExpr):
            walk(node.expr, parent_call)
        elif isinstance(node, pp.SubqueryExpr):
            simple[0] = False
            walk(node.expr, None)
        elif isinstance(node, pp.UnaryExpr):
            walk(node.expr, None)
        elif isinstance(node, pp.NumberLiteral | pp.StringLiteral):
            pass
        else:  # pragma: no cover - new node kinds in a future parser
            simple[0] = False

    walk(expr, None)
    if not any(s.windowed for s in selectors):
        raise TemplateError(
            "{{window}} is not used as a range",
            "put the placeholder inside a range selector: rate(metric[{{window}}])",
        )
    if window_funcs <= RATE_FUNCTIONS:
        mode = "rate"
    elif window_funcs <= COUNT_FUNCTIONS:
        mode = "count"
    elif window_funcs & (RATE_FUNCTIONS | COUNT_FUNCTIONS):
        raise TemplateError(
            "query mixes rate() and increase() over {{window}}",
            "use rate() throughout: SLI queries are per-second rates",
        )
    else:
        mode = "other"
    return TemplateInfo(tuple(selectors), mode, _result_labels(expr), simple[0])


def _selector(node: pp.VectorSelector, windowed: bool) -> Selector:
    matchers = []
    name = node.name
    for m in node.matchers.matchers:
        if m.name == "__name__" and _op(m) == "=":
            name = m.value
            continue
        matchers.append((m.name, _op(m), m.value))
    if node.matchers.or_matchers:
        raise TemplateError("'or' inside a label matcher is not supported", "use a regex matcher (=~) instead")
    return Selector(name, tuple(sorted(matchers)), windowed)


def _result_labels(node: pp.Expr) -> frozenset[str] | None:
    if isinstance(node, pp.AggregateExpr):
        modifier = node.modifier
        if modifier is None:
            return frozenset()
        if "Without" in str(modifier.type):
            return None
        return frozenset(modifier.labels)
    if isinstance(node, pp.ParenExpr):
        return _result_labels(node.expr)
    if isinstance(node, pp.BinaryExpr):
        lhs, rhs = _result_labels(node.lhs), _result_labels(node.rhs)
        if isinstance(node.lhs, pp.NumberLiteral):
            return rhs
        if isinstance(node.rhs, pp.NumberLiteral):
            return lhs
        bin_modifier = node.modifier
        matching = bin_modifier.matching if bin_modifier is not None else None
        if bin_modifier is not None and matching is not None and "On" in str(matching.type):
            card = str(bin_modifier.card)
            if "OneToOne" in card:
                return frozenset(matching.labels)
            return lhs if "ManyToOne" in card else rhs
        return lhs
    if isinstance(node, pp.Call) and node.func.name in {"clamp_min", "clamp_max", "abs", "round"}:
        return _result_labels(node.args[0])
    if isinstance(node, pp.NumberLiteral):
        return frozenset()
    return None


def label_matcher_list(text: str) -> tuple[tuple[str, str, str], ...]:
    """Parse ``job="api", code!~"4.."`` into matchers (a filter given in the spec)."""
    text = text.strip()
    if text.startswith("{"):
        text = text[1:-1] if text.endswith("}") else text
    if not text:
        return ()
    expr = parse("parapet_filter_probe{" + text + "}")
    if not isinstance(expr, pp.VectorSelector):
        raise TemplateError("not a list of label matchers", 'write matchers such as job="api", code!~"4.."')
    sel = _selector(expr, False)
    return sel.matchers


def format_matchers(matchers: tuple[tuple[str, str, str], ...] | list[tuple[str, str, str]]) -> str:
    return ", ".join(f"{name}{op}{quote(value)}" for name, op, value in matchers)


def quote(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
