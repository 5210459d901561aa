"""PAR105: prometheus_client multiprocess mode missing or unmanaged in a multi-worker server."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_line, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import THIS, Example, check
from parapet_cli.doctor.topology import Line, Process

ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
METRICS_LIBS = (
    "prometheus_client",
    "prometheus_fastapi_instrumentator",
    "django_prometheus",
    "prometheus_flask_exporter",
    "starlette_exporter",
    "starlette_prometheus",
)
_SET = re.compile(r"\b(export\s+)?(PROMETHEUS_MULTIPROC_DIR|prometheus_multiproc_dir)=")
_WIPE = re.compile(r"\b(rm\s+-\w*r\w*|find\b.*-delete)\b.*(PROMETHEUS_MULTIPROC_DIR|prometheus_multiproc_dir|/metrics)")


def _env_line(process: Process) -> Line | None:
    for name in ENV:
        if name in process.env:
            return process.env[name][1]
    for line in process.script:
        if _SET.search(line.text):
            return line
    return None


def _set_in_gunicorn_conf(process: Process) -> Line | None:
    conf = process.gunicorn
    if conf is None:
        return None
    for number, text in enumerate(conf.module.lines, start=1):
        if any(name in text for name in ENV) and ("environ" in text or "putenv" in text):
            return Line(conf.rel, number, text.strip())
    return None


def _wiped(process: Process) -> bool:
    if any(_WIPE.search(line.text) for line in process.script):
        return True
    conf = process.gunicorn
    if conf is not None and "on_starting" in conf.hooks:
        body = ast.unparse(conf.hooks["on_starting"])
        if any(word in body for word in ("rmtree", "unlink", "remove", "rm -")):
            return True
    return process.scratch


EXAMPLES = (
    Example(
        "bad",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
RUN pip install fastapi prometheus-client gunicorn uvicorn
CMD gunicorn -w 4 -k uvicorn.workers.UvicornWorker app.main:app
""",
            "app/main.py": """\
from fastapi import FastAPI
from prometheus_client import Counter

ORDERS = Counter("shop_orders_total", "Orders placed")
app = FastAPI()
""",
        },
        fires=(("Dockerfile", 5, "error"),),
    ),
    Example(
        "unmanaged",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
RUN pip install fastapi prometheus-client gunicorn uvicorn && mkdir -p /tmp/metrics
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
""",
            "app/main.py": """\
from fastapi import FastAPI
from prometheus_client import Counter

ORDERS = Counter("shop_orders_total", "Orders placed")
app = FastAPI()
""",
            "gunicorn.conf.py": """\
import multiprocessing

workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "uvicorn.workers.UvicornWorker"
""",
        },
        fires=(
            ("Dockerfile", 4, "warning"),
            ("gunicorn.conf.py", 1, "warning"),
        ),
    ),
    Example(
        "good",
        {
            "Dockerfile": """\
FROM python:3.12-slim
WORKDIR /srv
COPY . .
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
RUN pip install fastapi prometheus-client gunicorn uvicorn
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app.main:app"]
""",
            "app/main.py": """\
from fastapi import FastAPI
from prometheus_client import Counter

ORDERS = Counter("shop_orders_total", "Orders placed")
app = FastAPI()
""",
            "docker-entrypoint.sh": """\
#!/bin/sh
set -e
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec "$@"
""",
            "gunicorn.conf.py": """\
from prometheus_client import multiprocess

workers = 4
worker_class = "uvicorn.workers.UvicornWorker"


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
""",
        },
    ),
)


@check(
    "PAR105",
    "multiprocess-metrics",
    examples=EXAMPLES,
    python=r"(?i)prometheus|starlette_exporter",
    title="prometheus_client multiprocess mode is missing, never wiped, or lacks gunicorn's child_exit hook",
    severity=Severity.ERROR,
    fix=(
        "Set PROMETHEUS_MULTIPROC_DIR in the image or manifest (before Python starts), empty it at start "
        "(rm -rf in the entrypoint, or gunicorn's on_starting; an emptyDir volume), and in gunicorn.conf.py define "
        "child_exit(server, worker) calling prometheus_client.multiprocess.mark_process_dead(worker.pid)."
    ),
)
def multiprocess_metrics(ctx: Context) -> Iterator[Finding]:
    """With several workers each process keeps its own counters. Without multiprocess mode a scrape sees the share
    of whichever worker answered, and counters seem to reset whenever another worker answers. The directory must
    be wiped at start (container PIDs repeat, so old files are reopened and counters climb across restarts), and
    gunicorn's child_exit must mark dead workers, or live gauges keep counting them."""
    if not ctx.py.uses(*METRICS_LIBS):
        return
    for process in ctx.topology.services:
        kind, workers = process.server, process.workers
        if kind not in ("gunicorn", "uvicorn", "uwsgi", "granian", "hypercorn") or not process.script:
            continue
        multi = process.multi_process
        severity = gate(Severity.ERROR, multi)
        if severity is None:
            continue
        line = process.script[0]
        where = process.workers_at or line
        env = _env_line(process) or (_set_in_gunicorn_conf(process) if kind == "gunicorn" else None)
        if env is None:
            python_only = any(
                name in m.line(n)
                for m in ctx.py.modules
                for n in range(1, len(m.lines) + 1)
                for name in ENV
                if "environ" in m.line(n)
            )
            yield at_line(
                THIS,
                severity,
                where,
                f"{process.describe()} runs {kind} with {workers or 'several'} workers but PROMETHEUS_MULTIPROC_DIR "
                + ("is set only from Python, after prometheus_client may have read it" if python_only else "is not set")
                + ": each scrape sees one worker's counters"
                + unknown_suffix(multi),
                "set PROMETHEUS_MULTIPROC_DIR in the Dockerfile ENV or the manifest's env, and serve a "
                "MultiProcessCollector registry",
            )
            continue
        if not _wiped(process):
            yield at_line(
                THIS,
                Severity.WARNING if multi else Severity.INFO,
                env,
                f"the multiprocess directory of {process.describe()} is never emptied at start: reused PIDs reopen "
                "old files and counters keep climbing across restarts",
                'rm -rf "$PROMETHEUS_MULTIPROC_DIR"/* in the entrypoint (or in gunicorn on_starting), or mount an '
                "emptyDir",
                confidence=Confidence.MEDIUM,
            )
        if kind == "gunicorn":
            conf = process.gunicorn
            hook = conf.hooks.get("child_exit") if conf is not None else None
            if hook is None or "mark_process_dead" not in ast.unparse(hook):
                at = Line(conf.rel, 1, "child_exit") if conf is not None else line
                if hook is not None and conf is not None:
                    at = Line(conf.rel, hook.lineno, "child_exit")
                yield at_line(
                    THIS,
                    Severity.WARNING if multi else Severity.INFO,
                    at,
                    "gunicorn has no child_exit hook calling multiprocess.mark_process_dead: live gauges keep counting "
                    "dead workers",
                    "def child_exit(server, worker): multiprocess.mark_process_dead(worker.pid)",
                )
