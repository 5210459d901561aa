"""PAR102: APScheduler or background loops started inside every web worker."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import PurePosixPath

from parapet_cli.doctor.context import Context, at_node, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import CallSite, Module
from parapet_cli.doctor.registry import THIS, Example, check

SCHEDULERS = ("BackgroundScheduler", "AsyncIOScheduler", "GeventScheduler", "TornadoScheduler", "TwistedScheduler")
STARTUP_FUNCTIONS = frozenset(
    {
        "ready",
        "lifespan",
        "create_app",
        "make_app",
        "startup",
        "on_startup",
        "post_fork",
        "post_worker_init",
        "init_app",
    }
)


def _is_scheduler(name: str) -> bool:
    return (name.startswith("apscheduler.") and name.rsplit(".", 1)[-1] in SCHEDULERS) or name in (
        "flask_apscheduler.APScheduler",
        "flask_apscheduler.scheduler.APScheduler",
    )


def _startup_function(module: Module, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if fn.name in STARTUP_FUNCTIONS:
        return True
    for deco in fn.decorator_list:
        name = module.qualname(deco.func if isinstance(deco, ast.Call) else deco)
        if name.endswith(("asynccontextmanager", "before_first_request", "before_serving", "on_startup")):
            return True
        if isinstance(deco, ast.Call) and name.endswith(".on_event") and deco.args:
            arg = deco.args[0]
            if isinstance(arg, ast.Constant) and arg.value == "startup":
                return True
    return False


def _in_web_worker(module: Module, site: CallSite) -> bool:
    if site.main_guard or "/management/commands/" in f"/{module.rel}":
        return False
    fn = site.function
    if fn is None:
        return True  # module scope: runs wherever the module is imported
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _startup_function(module, node)
        for node in site.scope
    )


def _dedicated(ctx: Context, module: Module) -> bool | None:
    """When a process runs this module as a script: whether that process runs more than once."""
    dotted = module.rel.removesuffix(".py").replace("/", ".")
    name = PurePosixPath(module.rel).name
    for process in ctx.topology.services:
        for line in process.script:
            if module.rel in line.text or f"-m {dotted}" in line.text or f" {name}" in f" {line.text}":
                return process.multi
    return None


EXAMPLES = (
    Example(
        "bad",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
RUN pip install fastapi apscheduler gunicorn uvicorn
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
""",
            "app/jobs.py": """\
def refresh_exchange_rates() -> None:
    print("refreshing")
""",
            "app/main.py": """\
from app.jobs import refresh_exchange_rates
from apscheduler.schedulers.background import BackgroundScheduler as BS
from fastapi import FastAPI

app = FastAPI()


@app.on_event("startup")
def start_scheduler() -> None:
    scheduler = BS()
    scheduler.add_job(refresh_exchange_rates, "interval", minutes=5)
    scheduler.start()
""",
            "gunicorn.conf.py": """\
bind = "0.0.0.0:8000"
workers = 4
worker_class = "uvicorn.workers.UvicornWorker"
""",
        },
        fires=(("app/main.py", 12, "error"),),
    ),
    Example(
        "good",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
RUN pip install fastapi apscheduler gunicorn uvicorn
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
""",
            "app/main.py": """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
""",
            "app/scheduler.py": """\
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler


def refresh_exchange_rates() -> None:
    print("refreshing")


if __name__ == "__main__":
    scheduler = BackgroundScheduler()
    scheduler.add_job(refresh_exchange_rates, "interval", minutes=5)
    scheduler.start()
    BlockingScheduler().start()
""",
            "docker-compose.yml": """\
services:
  web:
    build: .
    command: gunicorn -w 4 -k uvicorn.workers.UvicornWorker app.main:app
  scheduler:
    build: .
    command: python app/scheduler.py
""",
        },
    ),
)


@check(
    "PAR102",
    "scheduler-in-web-worker",
    examples=EXAMPLES,
    python=r"apscheduler|create_task|ensure_future|repeat_every",
    title="A scheduler or background loop starts in every web worker",
    severity=Severity.ERROR,
    fix=(
        "Start the scheduler in one dedicated process (a management command or script run by a single-replica "
        "Deployment), or move the periodic work to Celery beat, a Kubernetes CronJob or APScheduler 4 with a "
        "shared data store."
    ),
)
def scheduler_in_web(ctx: Context) -> Iterator[Finding]:
    """A scheduler started at import, in ``AppConfig.ready()``, in an app factory or in a startup hook starts once
    per web worker and once per replica: with four gunicorn workers on three pods every job runs twelve times.
    APScheduler 3 cannot share a job store between processes, and django-apscheduler says only one scheduler may
    run. ``asyncio.create_task`` loops and ``repeat_every`` in startup hooks multiply the same way."""
    for module in ctx.py.modules:
        scheduler_names: set[str] = set()
        uses_scheduler = module.imports_any("apscheduler", "flask_apscheduler")
        if uses_scheduler:
            for node in module.nodes(ast.Assign):
                if isinstance(node.value, ast.Call) and _is_scheduler(module.qualname(node.value.func)):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            scheduler_names.add(target.id)
                        elif isinstance(target, ast.Attribute):
                            scheduler_names.add(target.attr)
        for site in module.calls:
            func = site.call.func
            what: str | None = None
            if uses_scheduler and isinstance(func, ast.Attribute) and func.attr == "start":
                target = func.value
                if (
                    (isinstance(target, ast.Name) and target.id in scheduler_names)
                    or (isinstance(target, ast.Attribute) and target.attr in scheduler_names)
                    or (isinstance(target, ast.Call) and _is_scheduler(module.qualname(target.func)))
                ):
                    what = "an APScheduler scheduler starts"
            elif site.name in ("asyncio.create_task", "asyncio.ensure_future") or (
                isinstance(func, ast.Attribute)
                and func.attr == "create_task"
                and site.name.endswith("loop.create_task")
            ):
                fn = site.function
                if fn is not None and _startup_function(module, fn):
                    what = "a background task loop starts in a startup hook"
            if what is None or not _in_web_worker(module, site):
                continue
            yield from _report(ctx, module, site.call.lineno, site.call.col_offset, what)
        for fn in module.defs():
            for deco in fn.decorator_list:
                if isinstance(deco, ast.Call) and module.qualname(deco.func).endswith("repeat_every"):
                    yield from _report(
                        ctx, module, deco.lineno, deco.col_offset, "a repeat_every loop starts in a startup hook"
                    )


def _report(ctx: Context, module: Module, lineno: int, col: int, what: str) -> Iterator[Finding]:
    dedicated = _dedicated(ctx, module)
    sharing = ctx.topology.sharing(module.rel)
    multi = dedicated if dedicated is not None else sharing.multi
    severity = gate(Severity.ERROR, multi)
    if severity is None:
        return
    yield at_node(
        THIS,
        severity,
        module,
        lineno,
        col,
        f"{what} in each web worker and replica ({sharing.describe()}): every job runs once per copy"
        + unknown_suffix(multi),
        "start it in one dedicated single-replica process, or use Celery beat or a CronJob",
        confidence=Confidence.HIGH if multi else Confidence.MEDIUM,
    )
