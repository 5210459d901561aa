"""PAR103: SQLite used as the database of a service that runs in several processes or replicas."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, at_node
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, const_str
from parapet_cli.doctor.registry import check
from parapet_cli.doctor.topology import Line

SQLITE = re.compile(r"^(sqlite(\+\w+)?:///(?!:memory:)\S|db\+sqlite|sqla\+sqlite|filesystem://)")
DJANGO_SQLITE = "django.db.backends.sqlite3"
FALLBACK_CALLS = ("environ.get", "getenv", "env", "config", "env.db", "env.str", "db_url", "parse")
_NAMED = re.compile(r"(database|db|uri|url|broker|backend|store|engine|dsn)", re.IGNORECASE)
DB_CALLS = ("create_engine", "create_async_engine", "SQLAlchemyJobStore", "Celery", "from_url", "db_url", "parse")


def _target_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return const_str(node.slice) or ""
    return ""


def _configures_database(module: Module, node: ast.Constant, parents: dict[int, ast.AST]) -> bool:
    """The string is a database setting: an ENGINE/URL value, a database variable, or a database call's argument."""
    parent = parents.get(id(node))
    if str(node.value).strip() == DJANGO_SQLITE:
        if isinstance(parent, ast.Dict):
            return any(v is node and const_str(k) == "ENGINE" for k, v in zip(parent.keys, parent.values, strict=True))
        return isinstance(parent, ast.keyword) and parent.arg == "ENGINE"
    if isinstance(parent, ast.Dict):
        for key, value in zip(parent.keys, parent.values, strict=True):
            if value is node:
                return bool(_NAMED.search(const_str(key) or ""))
    if isinstance(parent, ast.keyword):
        return bool(parent.arg and (_NAMED.search(parent.arg) or parent.arg in ("default", "url")))
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        return any(_NAMED.search(_target_name(t)) for t in targets)
    if isinstance(parent, ast.Call):
        name = module.qualname(parent.func)
        return name.endswith(DB_CALLS) or name.endswith(FALLBACK_CALLS)
    return False


JOB_WORKERS = re.compile(r"\b(celery\b.*\bworker|rq\s+worker|rqworker|dramatiq|huey_consumer|run_huey)\b")


def _separate_containers(ctx: Context) -> bool:
    """A web process and a job worker in containers of their own: each opens its own SQLite file."""
    services = ctx.topology.services
    web = any(p.web for p in services)
    workers = any(not p.web and p.lines_matching(JOB_WORKERS) for p in services)
    return web and workers


def _severity(ctx: Context, process_multi: bool | None = None) -> Severity | None:
    topo = ctx.topology
    node = process_multi if process_multi is not None else topo.multi_node()
    if not node and _separate_containers(ctx):
        node = True
    if node:
        return Severity.ERROR
    if topo.multi_process():
        return Severity.WARNING
    if node is None:
        return Severity.WARNING  # unknown: several nodes, one step lower
    if topo.multi_process() is None:
        return Severity.INFO
    return None


def _fallbacks(module: Module) -> set[int]:
    """ids of string nodes that are only the default of an environment lookup."""
    out: set[int] = set()
    for site in module.calls:
        if site.name.endswith(FALLBACK_CALLS):
            for arg in site.call.args[1:]:
                out.add(id(arg))
            for kw in site.call.keywords:
                if kw.arg in ("default", "fallback"):
                    out.add(id(kw.value))
    return out


@check(
    "PAR103",
    "sqlite-shared",
    title="SQLite is the database of a service that runs in several processes or replicas",
    severity=Severity.ERROR,
    fix=(
        "Use PostgreSQL (or another server database) for anything several processes write; keep SQLite for "
        "tests and single-process tools. Each replica gets its own SQLite file, and file locking across workers "
        "(worse, on NFS) serialises or corrupts writes."
    ),
)
def sqlite_shared(ctx: Context) -> Iterator[Finding]:
    """SQLite is a file: every replica writes its own copy, so data silently diverges between pods, and several
    workers on one node serialise on its write lock ("database is locked"). Celery result backends and brokers on
    SQLite and APScheduler job stores on SQLite break the same way."""
    for module in ctx.py.modules:
        if ctx.py.is_dev_settings(module):
            continue
        fallbacks: set[int] | None = None
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            value = node.value.strip()
            if value != DJANGO_SQLITE and not SQLITE.match(value):
                continue
            if fallbacks is None:
                fallbacks = _fallbacks(module)
                parents = {id(child): outer for outer in ast.walk(module.tree) for child in ast.iter_child_nodes(outer)}
            if not _configures_database(module, node, parents):
                continue
            severity = _severity(ctx)
            if severity is None:
                continue
            fallback = id(node) in fallbacks
            if fallback:
                severity = severity.lowered()
            where = "the default when the environment sets no database" if fallback else "the database"
            yield at_node(
                "PAR103",
                severity,
                module,
                node.lineno,
                node.col_offset,
                f"SQLite ({value[:60]}) is {where} of a service with {ctx.topology.summary()}"
                + ("; its job workers run in containers of their own" if _separate_containers(ctx) else ""),
                "point the service at PostgreSQL; keep SQLite for tests",
                confidence=Confidence.LOW if fallback else Confidence.HIGH,
            )
    for process in ctx.topology.services:
        for name, (value, line) in process.env.items():
            if SQLITE.match(value.strip()):
                severity = _severity(ctx, process.multi)
                if severity is not None:
                    yield at_line(
                        "PAR103",
                        severity,
                        Line(line.path, line.line, f"{name}={value}"),
                        f"{name} points {process.describe()} at SQLite ({value[:60]})",
                        "point the service at PostgreSQL; keep SQLite for tests",
                    )
    for rel in ctx.repo.of_kind("env"):
        if rel.endswith((".test", ".dev", ".local")) or ".test." in rel:
            continue
        for number, raw in enumerate(ctx.repo.lines(rel), start=1):
            key, sep, value = raw.strip().removeprefix("export ").partition("=")
            if sep and SQLITE.match(value.strip().strip("'\"")):
                severity = _severity(ctx)
                if severity is not None:
                    yield at_line(
                        "PAR103",
                        severity.lowered(),
                        Line(rel, number, raw.strip()),
                        f"{key.strip()} in {rel} points at SQLite",
                        "use a PostgreSQL URL in the environment files deployments copy",
                        confidence=Confidence.MEDIUM,
                    )
