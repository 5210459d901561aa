"""PAR112: database connections opened before gunicorn forks its workers."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_node, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import check
from parapet_cli.doctor.topology import after, words

CONNECTS = (
    "sqlalchemy.create_engine",
    "sqlalchemy.ext.asyncio.create_async_engine",
    "psycopg2.connect",
    "psycopg.connect",
    "pymysql.connect",
    "MySQLdb.connect",
    "pymongo.MongoClient",
)


def _preloaded(ctx: Context) -> bool:
    conf = ctx.topology.gunicorn
    if conf is not None and conf.preload:
        return True
    for process in ctx.topology.services:
        for line in process.script:
            rest = after(words(line.text), "gunicorn")
            if rest is not None and "--preload" in rest:
                return True
    return False


@check(
    "PAR112",
    "prefork-connections",
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
    if not _preloaded(ctx):
        return
    conf = ctx.topology.gunicorn
    if conf is not None and "post_fork" in conf.hooks and ".dispose(" in ast.unparse(conf.hooks["post_fork"]):
        return
    multi = ctx.topology.multi_process()
    severity = gate(Severity.WARNING, multi)
    if severity is None:
        return
    for module in ctx.py.modules:
        for site in module.calls:
            if site.module_level and not site.main_guard and site.name in CONNECTS:
                yield at_node(
                    "PAR112",
                    severity,
                    module,
                    site.call.lineno,
                    site.call.col_offset,
                    f"{site.name.rsplit('.', 1)[-1]}() runs at import while gunicorn preloads the app: every forked "
                    "worker inherits the same connections" + unknown_suffix(multi),
                    "create it lazily, or dispose of it in gunicorn's post_fork hook",
                    confidence=Confidence.MEDIUM,
                )
