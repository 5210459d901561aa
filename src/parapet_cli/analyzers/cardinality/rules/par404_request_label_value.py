"""PAR404: a label is set from raw request input."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import FileFacts, Index, Kind
from parapet_cli.analyzers.cardinality.rule import Config, Rule, values_of_kind
from parapet_cli.doctor.findings import Finding, Severity

ROUTE_TEMPLATES = {
    "fastapi": 'request.scope["route"].path (the APIRoute that matched)',
    "starlette": 'request.scope["route"].path (the Route that matched)',
    "litestar": "request.scope['path_template']",
    "flask": "request.url_rule.rule",
    "quart": "request.url_rule.rule",
    "django": "request.resolver_match.route",
    "aiohttp": "request.match_info.route.resource.canonical",
    "sanic": "request.route.path",
    "falcon": "req.uri_template",
    "tornado": "type(self).__name__ of the RequestHandler",
}


class RequestLabelValue(Rule):
    """The raw path, URL, query, headers, body and client address of a request are chosen by whoever sends
    it: every id in a path (``/users/8812``), every query string, every scanner probing ``/wp-admin`` is a new
    series. A route template (``/users/{id}``) or the method is bounded by the application's code instead."""

    ID = "PAR404"
    NAME = "request-label-value"
    TITLE = "A label value is raw request input (path, URL, headers, client address)"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} gets label {label} = {detail}"
    FIX = "use the route template the router matched, never the raw path; drop headers, query and addresses"
    VALID = (
        "from flask import request\nfrom prometheus_client import Counter\n"
        'HITS = Counter("hits_total", "Hits.", ["route", "method"])\n'
        "def after():\n    HITS.labels(request.url_rule.rule, request.method).inc()\n",
        "from prometheus_client import Counter\n"
        'HITS = Counter("hits_total", "Hits.", ["route"])\n'
        "def view(request):\n    HITS.labels(route=request.resolver_match.route).inc()\n",
    )
    INVALID = (
        "from fastapi import Request\nfrom prometheus_client import Counter\n"
        'HITS = Counter("hits_total", "Hits.", ["endpoint"])\n'
        "async def mw(request: Request, call_next):\n    HITS.labels(request.url.path).inc()\n",
        "from prometheus_client import Counter\n"
        'HITS = Counter("hits_total", "Hits.", ["agent"])\n'
        'def view(request):\n    HITS.labels(agent=request.headers.get("user-agent")).inc()\n',
        "from prometheus_client import Histogram\n"
        'T = Histogram("t_seconds", "T.", ["target"])\n'
        'async def app(scope, receive, send):\n    path = scope["path"]\n    T.labels(f"{path}").observe(1)\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        template = ROUTE_TEMPLATES.get(facts.framework or "")
        hint = (
            f"use the route template instead: {template}; drop headers, query and client addresses"
            if template
            else self.FIX
        )
        for use, metric, label, value, confidence, cause in values_of_kind(facts, index, Kind.REQUEST, config):
            yield self.finding(
                use.site,
                metric=metric,
                label=label,
                detail=f"{value.code}: {value.reason}",
                hint=hint,
                confidence=confidence,
                cause=cause,
            )
