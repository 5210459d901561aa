"""PAR103: SQLite used as the database of a service that runs in several processes or replicas."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, at_node
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, const_str
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, Process, Sharing

SQLITE = re.compile(r"^(sqlite(\+\w+)?:///(?!:memory:)\S|db\+sqlite|sqla\+sqlite|filesystem://)")
DJANGO_SQLITE = "django.db.backends.sqlite3"
FALLBACK_CALLS = ("environ.get", "getenv", "env", "config", "env.db", "env.str", "db_url", "parse")
_NAMED = re.compile(r"(database|db|uri|url|broker|backend|store|engine|dsn)", re.IGNORECASE)
DB_CALLS = ("create_engine", "create_async_engine", "SQLAlchemyJobStore", "Celery", "from_url", "db_url", "parse")


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


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


def _separate_containers(sharing: Sharing) -> bool:
    """A web process and a job worker in containers of their own: each opens its own SQLite file (programs of one
    container, s6 or supervisord, share its disk)."""
    web = {id(p.in_container or p) for p in sharing.processes if p.web}
    workers = {id(p.in_container or p) for p in sharing.processes if not p.web and p.lines_matching(JOB_WORKERS)}
    return bool(web and workers and workers - web)


def _severity(sharing: Sharing, process: Process | None = None) -> Severity | None:
    """Error when several nodes or containers open the file, warning when several processes of one node do (or
    when nothing is known), info when only the workers are unknown."""
    node = sharing.multi_node
    if process is not None and process.multi:
        node = True
    if not node and _separate_containers(sharing):
        node = True
    if node:
        return Severity.ERROR
    if sharing.multi_process:
        return Severity.WARNING
    if node is None:
        return Severity.WARNING  # unknown: several nodes, one step lower
    if sharing.multi_process is None:
        return Severity.INFO
    return None


_ENV_READS = ("os.environ.get", "os.getenv", "os.environ", "environ.get", "getenv", "env", "env.str", "config")


def _env_name(module: Module, node: ast.AST) -> str | None:
    """The variable an expression reads: ``os.environ["X"]``, ``os.environ.get("X", …)``, ``env("X")``."""
    if isinstance(node, ast.Subscript) and module.qualname(node.value).endswith("environ"):
        return const_str(node.slice)
    if isinstance(node, ast.Call) and node.args and module.qualname(node.func).endswith(_ENV_READS):
        return const_str(node.args[0])
    return None


def _engine_from_env(module: Module, node: ast.AST) -> tuple[str, ast.AST] | None:
    """``f"django.db.backends.{os.environ['DB_ENGINE']}"`` (or ``"django.db.backends." + …``): the variable."""
    parts: list[ast.AST] = []
    if isinstance(node, ast.JoinedStr):
        parts = list(node.values)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [node.left, node.right]
    if len(parts) != 2 or const_str(parts[0]) != "django.db.backends.":
        return None
    value = parts[1].value if isinstance(parts[1], ast.FormattedValue) else parts[1]
    name = _env_name(module, value)
    return (name, node) if name else None


def _env_values(ctx: Context, name: str) -> list[tuple[str, Line]]:
    """What the deployment sets ``name`` to: process environments and the .env files they read."""
    out = [p.env[name] for p in ctx.topology.services if name in p.env]
    for rel in ctx.repo.of_kind("env"):
        for number, raw in enumerate(ctx.repo.lines(rel), start=1):
            key, sep, value = raw.strip().removeprefix("export ").partition("=")
            if sep and key.strip() == name:
                out.append((value.strip().strip("'\""), Line(rel, number, raw.strip())))
    return out


def _fallbacks(module: Module) -> set[int]:
    """ids of string nodes that are only the default of an environment lookup, or of a DATABASES setting that
    a later conditional assignment replaces (``if os.getenv("DB") == "postgres": DATABASES = …``)."""
    out: set[int] = set()
    assigns: list[ast.Assign | ast.AnnAssign] = [*module.nodes(ast.Assign), *module.nodes(ast.AnnAssign)]
    assigns = sorted(
        (a for a in assigns if any(isinstance(t, ast.Name) and t.id == "DATABASES" for t in _targets(a))),
        key=lambda a: a.lineno,
    )
    conditional = {id(n) for test in module.nodes(ast.If) for stmt in test.body for n in ast.walk(stmt)}
    for first in assigns[:1]:
        if any(id(later) in conditional for later in assigns[1:]) and first.value is not None:
            out.update(id(n) for n in ast.walk(first.value))
    for site in module.calls:
        if site.name.endswith(FALLBACK_CALLS):
            for arg in site.call.args[1:]:
                out.add(id(arg))
            for kw in site.call.keywords:
                if kw.arg in ("default", "fallback"):
                    out.add(id(kw.value))
    return out


EXAMPLES = (
    Example(
        "bad",
        {
            "k8s/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/shop:2.0.0
          args: ["gunicorn", "shop.wsgi", "--workers", "3"]
""",
            "shop/settings.py": """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}
""",
        },
        fires=(("shop/settings.py", 10, "error"),),
    ),
    Example(
        "good",
        {
            "k8s/web.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/shop:2.0.0
          args: ["gunicorn", "shop.wsgi", "--workers", "3"]
""",
            "shop/settings/base.py": """\
import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("POSTGRES_DB", "shop"),
        "HOST": os.environ.get("POSTGRES_HOST", "db"),
    }
}
""",
            "shop/settings/test.py": """\
from shop.settings.base import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
""",
        },
    ),
)


@check(
    "PAR103",
    "sqlite-shared",
    examples=EXAMPLES,
    python=r"sqlite|filesystem://|django\.db\.backends\.",
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
        for node in module.nodes(ast.Constant):
            if not isinstance(node.value, str):
                continue
            value = node.value.strip()
            if value != DJANGO_SQLITE and not SQLITE.match(value):
                continue
            if fallbacks is None:
                fallbacks = _fallbacks(module)
                parents = {id(child): outer for outer in ast.walk(module.tree) for child in ast.iter_child_nodes(outer)}
            if not _configures_database(module, node, parents):
                continue
            sharing = ctx.topology.sharing(module.rel, web=False)
            severity = _severity(sharing)
            if severity is None:
                continue
            fallback = id(node) in fallbacks
            if fallback:
                severity = severity.lowered()
            where = "the default when the environment sets no database" if fallback else "the database"
            yield at_node(
                THIS,
                severity,
                module,
                node.lineno,
                node.col_offset,
                f"SQLite ({value[:60]}) is {where} of {sharing.describe()}"
                + ("; its job workers run in containers of their own" if _separate_containers(sharing) else ""),
                "point the service at PostgreSQL; keep SQLite for tests",
                confidence=Confidence.LOW if fallback else Confidence.HIGH,
            )
        yield from _engines_from_env(ctx, module)
    everyone = ctx.topology.sharing(web=False)
    for process in ctx.topology.services:
        for name, (value, line) in process.env.items():
            if SQLITE.match(value.strip()):
                severity = _severity(everyone, process)
                if severity is not None:
                    yield at_line(
                        THIS,
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
                severity = _severity(everyone)
                if severity is not None:
                    yield at_line(
                        THIS,
                        severity.lowered(),
                        Line(rel, number, raw.strip()),
                        f"{key.strip()} in {rel} points at SQLite",
                        "use a PostgreSQL URL in the environment files deployments copy",
                        confidence=Confidence.MEDIUM,
                    )


def _engines_from_env(ctx: Context, module: Module) -> Iterator[Finding]:
    """A Django ENGINE built from a variable that the deployment sets to ``sqlite3``."""
    if "django.db.backends." not in "\n".join(module.lines):
        return
    for node in module.nodes(ast.JoinedStr, ast.BinOp):
        found = _engine_from_env(module, node)
        if found is None:
            continue
        name = found[0]
        chosen = [(value, at) for value, at in _env_values(ctx, name) if value.strip() == "sqlite3"]
        if not chosen:
            continue
        sharing = ctx.topology.sharing(module.rel, web=False)
        severity = _severity(sharing)
        if severity is None:
            continue
        _value, at = chosen[0]
        yield at_node(
            THIS,
            severity,
            module,
            node.lineno,
            node.col_offset,
            f"the database engine comes from {name}, which {at.path}:{at.line} sets to sqlite3: SQLite is the "
            f"database of {sharing.describe()}",
            "point the service at PostgreSQL; keep SQLite for tests",
        )
