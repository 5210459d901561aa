"""PAR112: database connections opened before gunicorn forks its workers."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_node, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Process, any_of

CONNECTS = (
    "sqlalchemy.create_engine",
    "sqlalchemy.ext.asyncio.create_async_engine",
    "psycopg2.connect",
    "psycopg.connect",
    "pymysql.connect",
    "MySQLdb.connect",
    "pymongo.MongoClient",
)


def _preloading(ctx: Context) -> list[Process]:
    """The gunicorn processes that preload the app and do not dispose of connections after the fork."""
    out = []
    for process in ctx.topology.services:
        conf = process.gunicorn
        if not process.preload:
            continue
        if conf is not None and "post_fork" in conf.hooks and ".dispose(" in ast.unparse(conf.hooks["post_fork"]):
            continue
        out.append(process)
    return out


EXAMPLES = (
    Example(
        "bad",
        {
            "Procfile": """\
web: gunicorn -c gunicorn.conf.py app.wsgi:app
""",
            "app/db.py": """\
import os

from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5)
""",
            "gunicorn.conf.py": """\
workers = 4
preload_app = True
""",
        },
        fires=(("app/db.py", 5, "warning"),),
    ),
    Example(
        "good",
        {
            "Procfile": """\
web: gunicorn -c gunicorn.conf.py app.wsgi:app
""",
            "app/db.py": """\
import os

from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5)
""",
            "gunicorn.conf.py": """\
workers = 4
preload_app = True


def post_fork(server, worker):
    from app.db import engine

    engine.dispose(close=False)
""",
        },
    ),
)


@check(
    "PAR112",
    "prefork-connections",
    examples=EXAMPLES,
    python=r"create_(async_)?engine|MongoClient|(psycopg2?|pymysql|MySQLdb)\.connect|import[^\n]*\bconnect\b",
    title="A database connection or pool is created at import while gunicorn preloads the app",
    severity=Severity.WARNING,
    fix=(
        "Create engines and clients lazily (on first use in the worker), or dispose of them after the fork: "
        "def post_fork(server, worker): engine.dispose(close=False) in gunicorn.conf.py."
    ),
)
def prefork_connections(ctx: Context) -> Iterator[Finding]:
    """With preload_app the application is imported once in gunicorn's master and then forked. A pool or
    connection created at import is copied into every worker: two processes then speak on one socket, and
    queries get each other's answers or the connection breaks (SQLAlchemy's "using connection pools with
    multiprocessing"; pymongo's MongoClient is not fork-safe)."""
    preloading = _preloading(ctx)
    if not preloading:
        return
    multi = any_of([p.multi_process for p in preloading])
    severity = gate(Severity.WARNING, multi)
    if severity is None:
        return
    for module in ctx.py.modules:
        for site in module.calls:
            if site.module_level and not site.main_guard and site.name in CONNECTS:
                yield at_node(
                    THIS,
                    severity,
                    module,
                    site.call.lineno,
                    site.call.col_offset,
                    f"{site.name.rsplit('.', 1)[-1]}() runs at import while gunicorn preloads the app: every forked "
                    "worker inherits the same connections" + unknown_suffix(multi),
                    "create it lazily, or dispose of it in gunicorn's post_fork hook",
                    confidence=Confidence.MEDIUM,
                )
