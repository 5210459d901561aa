"""PAR106: a /metrics endpoint served on the public port without authentication."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_node
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, const_str, keyword
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, get, yline

EXPORTERS = ("prometheus_client.make_asgi_app", "prometheus_client.make_wsgi_app", "prometheus_client.exposition")
_NGINX_ROOT = re.compile(r"location\s+/\s*\{")
_NGINX_METRICS = re.compile(r"location\s+(=\s*|~\*?\s*|\^~\s*)?/metrics")


def _exposure(ctx: Context) -> Line | None:
    """Where the web port is reachable from outside: an Ingress, a LoadBalancer/NodePort Service, nginx ``/``."""
    for rel in ctx.repo.of_kind("yaml"):
        for doc in ctx.repo.yaml(rel):
            data = doc.data
            if not isinstance(data, dict):
                continue
            kind = data.get("kind")
            if kind == "Ingress":
                annotations = get(data, "metadata", "annotations")
                if isinstance(annotations, dict) and any("/metrics" in str(v) for v in annotations.values()):
                    continue  # a snippet that handles /metrics at the ingress
                name = get(data, "metadata", "name")
                return Line(rel, yline(doc, "kind"), f"Ingress {name}")
            if kind == "Service" and get(data, "spec", "type") in ("LoadBalancer", "NodePort"):
                name = get(data, "metadata", "name")
                return Line(rel, yline(doc, "spec", "type"), f"Service {name} ({get(data, 'spec', 'type')})")
    for rel in ctx.repo.of_kind("nginx"):
        text = ctx.repo.text(rel) or ""
        match = _NGINX_ROOT.search(text)
        if match and not _NGINX_METRICS.search(text):
            return Line(rel, text.count("\n", 0, match.start()) + 1, "location /")
    return None


def _endpoints(module: Module) -> Iterator[tuple[ast.AST, str]]:
    instrumentators: set[str] = set()
    for node in module.nodes(ast.Assign):
        if isinstance(node.value, ast.Call) and "Instrumentator" in module.qualname(node.value.func):
            instrumentators.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for site in module.calls:
        call, name = site.call, site.name
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "expose":
            base = module.qualname(func.value)
            if "Instrumentator" in base or base.split(".")[0].removesuffix("()") in instrumentators:
                if keyword(call, "dependencies") is None:
                    yield call, "prometheus-fastapi-instrumentator's expose() adds /metrics without dependencies="
                continue
        if isinstance(func, ast.Attribute) and func.attr in ("mount", "add_route", "add_url_rule", "route"):
            path = const_str(call.args[0]) if call.args else None
            if path is not None and "metrics" in path and _serves_exporter(module, call):
                yield call, f"{func.attr}({path!r}) serves Prometheus metrics on the application's port"
                continue
        if (
            name in ("django.urls.include", "django.conf.urls.include")
            and call.args
            and const_str(call.args[0]) == "django_prometheus.urls"
        ):
            yield call, "include('django_prometheus.urls') serves /metrics on the application's port"
        if name in (
            "prometheus_flask_exporter.PrometheusMetrics",
            "prometheus_flask_exporter.PrometheusMetrics.for_app_factory",
        ):
            path_arg = keyword(call, "path")
            if not (isinstance(path_arg, ast.Constant) and path_arg.value is None):
                yield call, "prometheus-flask-exporter's PrometheusMetrics serves /metrics on the application's port"
        if isinstance(func, ast.Name | ast.Attribute) and name.endswith("DispatcherMiddleware"):
            for arg in call.args[1:]:
                if isinstance(arg, ast.Dict):
                    for key, value in zip(arg.keys, arg.values, strict=True):
                        if "metrics" in (const_str(key) or "") and _is_exporter(module, value):
                            yield call, "DispatcherMiddleware mounts /metrics on the application's port"
    yield from _decorated_routes(module)


def _is_exporter(module: Module, node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Call | ast.Name | ast.Attribute) and module.qualname(n).startswith(EXPORTERS))
        or (isinstance(n, ast.Name) and n.id in ("handle_metrics", "metrics_app"))
        for n in ast.walk(node)
    )


def _serves_exporter(module: Module, call: ast.Call) -> bool:
    return any(_is_exporter(module, arg) for arg in [*call.args[1:], *(k.value for k in call.keywords)])


def _decorated_routes(module: Module) -> Iterator[tuple[ast.AST, str]]:
    for node in module.defs():
        route: ast.Call | None = None
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and deco.args and "metrics" in (const_str(deco.args[0]) or ""):
                text = ast.unparse(deco).lower()
                if "auth" in text or "depend" in text or "login" in text:
                    route = None
                    break
                route = deco
            elif "auth" in ast.unparse(deco).lower() or "login_required" in ast.unparse(deco):
                route = None
                break
        if route is None:
            continue
        body = ast.unparse(node)
        if "generate_latest" in body and "Depends(" not in ast.unparse(node.args):
            path = const_str(route.args[0])
            yield route, f"the route {path!r} returns generate_latest() without authentication"


EXAMPLES = (
    Example(
        "bad",
        {
            "app/main.py": """\
from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

app = FastAPI()
Instrumentator().instrument(app).expose(app)
""",
            "k8s/ingress.yaml": """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: shop
                port: {number: 8000}
""",
        },
        fires=(("app/main.py", 5, "error"),),
    ),
    Example(
        "opt-in",
        {
            "app/main.py": """\
import os

from fastapi import FastAPI
from prometheus_client import make_asgi_app

app = FastAPI()
if os.environ.get("METRICS_ENABLED") == "1":
    app.mount("/metrics", make_asgi_app())
""",
            "nginx/site.conf": "server {\n  location / {\n    proxy_pass http://app:8000;\n  }\n}\n",
        },
        fires=(("app/main.py", 8, "warning"),),
    ),
    Example(
        "good",
        {
            "app/main.py": """\
import os

from fastapi import Depends, FastAPI, Header, HTTPException
from prometheus_fastapi_instrumentator import Instrumentator

app = FastAPI()


def scrape_token(authorization: str = Header("")) -> None:
    if authorization != f"Bearer {os.environ['METRICS_TOKEN']}":
        raise HTTPException(status_code=401)


Instrumentator().instrument(app).expose(app, include_in_schema=False, dependencies=[Depends(scrape_token)])
""",
            "k8s/ingress.yaml": """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: shop
                port: {number: 8000}
""",
        },
    ),
)


@check(
    "PAR106",
    "metrics-public",
    examples=EXAMPLES,
    python=r"(?i)metrics|instrumentator|prometheus",
    title="/metrics is served on the public port without authentication",
    severity=Severity.ERROR,
    fix=(
        "Serve metrics on a separate port that the ingress does not route (prometheus_client.start_http_server in "
        "gunicorn's when_ready, a sidecar), deny /metrics at the ingress or proxy, or require auth "
        "(Instrumentator().expose(app, dependencies=[Depends(check_token)])) and set authorization in the scrape "
        "config."
    ),
)
def metrics_public(ctx: Context) -> Iterator[Finding]:
    """Metrics describe routes, error rates, queue depths and sometimes user or tenant ids; served on the
    application's port behind an ingress that routes ``/``, anyone on the internet can read them, and an expensive
    scrape (multiprocess mode with many files) becomes a cheap denial-of-service lever."""
    exposure: Line | None = None
    looked = False
    for module in ctx.py.modules:
        for node, what in _endpoints(module):
            if not looked:
                exposure, looked = _exposure(ctx), True
            if exposure is not None:
                severity = Severity.ERROR
                tail = f"; the port is reachable from outside through {exposure.text} ({exposure.path}:{exposure.line})"
                confidence = Confidence.HIGH
            else:
                severity = Severity.WARNING
                tail = "; whether the port is public is not known from the repository"
                confidence = Confidence.MEDIUM
            condition = _module_condition(module, node)
            if condition is not None:  # an opt-in setting turns it on: lower, and say which
                severity, confidence = severity.lowered(), Confidence.MEDIUM
                tail += f"; only when the condition on line {condition.lineno} holds ({ast.unparse(condition.test)})"
            lineno = getattr(node, "lineno", 1)
            col = getattr(node, "col_offset", None)
            yield at_node(
                THIS,
                severity,
                module,
                lineno,
                col,
                what + tail,
                "serve metrics on a separate port or require auth",
                confidence=confidence,
            )


def _module_condition(module: Module, node: ast.AST) -> ast.If | None:
    """The module-level ``if`` the endpoint is registered under (``if settings.METRICS_ENABLED:``), if any."""
    for stmt in module.tree.body:
        if isinstance(stmt, ast.If) and any(n is node for n in ast.walk(stmt)):
            return stmt
    return None
