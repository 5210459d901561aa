"""``parapet doctor cardinality`` on real open-source projects that use prometheus_client heavily: no crash, and
every finding points at a real line that shows what it talks about.

    python benchmarks/real_projects.py                    # every project below (pip downloads each once)
    python benchmarks/real_projects.py flower bentoml     # some of them
    python benchmarks/real_projects.py --findings         # and list every finding with its line

Each project is pinned by version, file name and SHA-256: its sdist from PyPI, or its wheel where the sdist
cannot be prepared with PyPI alone (Synapse's build asks crates.io for its Rust parts; SGLang publishes no sdist
of recent versions); a wheel's ``.py`` files are the project's Python sources. ``pip download`` fetches them
into ``$XDG_CACHE_HOME/parapet-bench/real`` (else ``~/.cache/parapet-bench/real``), once.

For each project the command ``parapet doctor cardinality --root TREE --format json`` runs with an empty cache,
as a user runs it. A crash is an exit code other than 0 or 1, or a traceback. Every finding must name a file of
the tree, a line the file has and a column inside it, and the statement that starts on that line must contain
the metric (its name or the variable it is bound to), one of the labels the finding names, or the label value
it reports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    filename: str
    sha256: str
    uses: str  # what of prometheus_client it uses, in a few words

    @property
    def wheel(self) -> bool:
        return self.filename.endswith(".whl")


PROJECTS = (
    Project(
        "prometheus-fastapi-instrumentator",
        "8.1.0",
        "prometheus_fastapi_instrumentator-8.1.0.tar.gz",
        "b77f3043665e8d28e2bbd21017506195a43d9adf1d402d01bf95b494b7e560e1",
        "FastAPI middleware: request counters and latency histograms by handler, method, status",
    ),
    Project(
        "starlette-exporter",
        "0.24.0",
        "starlette_exporter-0.24.0.tar.gz",
        "c09cb9be59d3d43f69d717c0108b90858ff226f33431493033803f8b7d3dec78",
        "Starlette middleware: request metrics by path template, method, status",
    ),
    Project(
        "django-prometheus",
        "2.5.0",
        "django_prometheus-2.5.0.tar.gz",
        "4837b3c3734d8350880839ab8235aafd250b668c348e159d4aecc3cbefeee53e",
        "Django middleware, model, cache and database metrics; multiprocess export",
    ),
    Project(
        "prometheus-flask-exporter",
        "0.23.2",
        "prometheus_flask_exporter-0.23.2.tar.gz",
        "41fc9bbd7d48cc958ed8384aacf60c3621d9e903768be61c4e7f0c63872eaf1a",
        "Flask request metrics, per-view decorators, multiprocess variants",
    ),
    Project(
        "flower",
        "2.2.0",
        "flower-2.2.0.tar.gz",
        "c4f4751942ff8b5069e6604a136e073b860971b7658859bdc61da1dc17a4bb32",
        "Celery monitor: events, runtimes and prefetch gauges by worker and task",
    ),
    Project(
        "airflow-exporter",
        "2.1.0",
        "airflow_exporter-2.1.0.tar.gz",
        "f60e4cd15dcc1986912913de0c897fdad314eafb517f328ee4d60d4c29c200d4",
        "custom collector: *MetricFamily gauges of DAG and task states",
    ),
    Project(
        "bentoml",
        "1.4.40",
        "bentoml-1.4.40.tar.gz",
        "e46c06da1577b669d178541873b5938ac772e3882339b942e138a0c8fb245abc",
        "model server: ASGI request and websocket metrics, runner metrics",
    ),
    Project(
        "jupyterhub",
        "6.1.1",
        "jupyterhub-6.1.1.tar.gz",
        "1d7b6713b31ebd76d61a13c202f9323e66c4e8cf731adc5d3052bb6ee6178a95",
        "hub metrics: request durations by handler, spawn and proxy histograms, enums",
    ),
    Project(
        "matrix-synapse",
        "1.163.2",
        "matrix_synapse-1.163.2-cp310-abi3-manylinux_2_28_x86_64.whl",
        "6cecae98b6e1b55dd68e689329cf1677cba103d4160c320f04b26bd081ff1558",
        "Matrix homeserver: hundreds of metrics, custom collectors, label dicts, per-server labels",
    ),
    Project(
        "sglang",
        "0.5.23",
        "sglang-0.5.23-cp311-cp311-manylinux_2_34_x86_64.whl",
        "00b3cd5b265ac76c64185fbb6b95424f324ddd9f428d0306b77bc9db9d859937",
        "LLM server: scheduler, tokenizer and HTTP metrics, multiprocess mode",
    ),
)


def _store() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parapet-bench" / "real"


def _platform_args(project: Project) -> list[str]:
    """A wheel is fetched for the platform its file name says, whatever this machine is."""
    tags = project.filename.removesuffix(".whl").split("-")[-3:]  # python, abi, platform
    version = tags[0].removeprefix("cp")
    return ["--only-binary", ":all:", "--platform", tags[2], "--python-version", f"{version[0]}.{version[1:]}"]


def fetch(project: Project) -> Path:
    """The project's tree, downloaded with pip (checked against its SHA-256) and unpacked once."""
    tree = _store() / f"{project.name}-{project.version}"
    if (tree / ".complete").is_file():
        return tree / "src"
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"{project.name}=={project.version}"
        how = _platform_args(project) if project.wheel else ["--no-binary", project.name]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *how, "-d", tmp, spec]
        print(f"downloading {project.filename} with pip …", file=sys.stderr)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        path = Path(tmp) / project.filename
        if done.returncode != 0 or not path.is_file():
            sys.exit(f"pip could not download {project.filename}:\n{done.stderr[-2000:]}")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != project.sha256:
            sys.exit(f"{project.filename}: SHA-256 {got}, expected {project.sha256}")
        shutil.rmtree(tree, ignore_errors=True)
        out = tree / "src"
        if project.wheel:
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if member.filename.endswith(".py"):
                        archive.extract(member, out)
        else:
            with tarfile.open(path) as archive:
                archive.extractall(out, filter="data")
            (top,) = list(out.iterdir())  # an sdist holds one folder, NAME-VERSION
            for child in top.iterdir():
                child.rename(out / child.name)
            top.rmdir()
    (tree / ".complete").write_text(f"{project.filename} {project.sha256}\n")
    return tree / "src"


_OPEN = re.compile(r"[([{]")
_CLOSE = re.compile(r"[)\]}]")


def statement(lines: list[str], line: int) -> str:
    """The text of the statement that starts on ``line`` (1-based): following lines while brackets are open."""
    out: list[str] = []
    depth = 0
    for text in lines[line - 1 : line + 39]:
        out.append(text)
        code = text.split("#", 1)[0]
        depth += len(_OPEN.findall(code)) - len(_CLOSE.findall(code))
        if depth <= 0:
            break
    return " ".join(" ".join(out).split())


_VALUE = re.compile(r" = (.+?): ")  # "metric m gets label l = <value as written>: why"


def mentions(finding: dict[str, Any]) -> list[str]:
    """What the finding's line must show: the metric (name, or its variable), a label it names, or the value it
    reports (a use may reach its metric through a local name: ``cm.add_metric([str(n)], m)``)."""
    out: list[str] = []
    value = _VALUE.search(finding.get("message") or "")
    if value:
        out.append(" ".join(value.group(1).split()))
    metric = finding.get("metric") or ""
    if metric and metric != "<metric>":
        out += [" ".join(metric.split()), metric.rsplit(".", 1)[-1]]
    for label in (finding.get("label") or "").split(","):
        if label and not label.startswith("#") and label != "__name__":
            out.append(label)
    return [m for m in out if m]


@dataclass
class Result:
    project: Project
    files: int = 0
    lines: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    crashed: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # findings that do not point at a real, matching line


def check(project: Project, root: Path, command: list[str]) -> Result:
    result = Result(project)
    py = [p for p in root.rglob("*.py") if p.is_file()]
    result.files = len(py)
    result.lines = sum(p.read_bytes().count(b"\n") for p in py)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PARAPET_CACHE_DIR": cache}
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "doctor", "cardinality", "--root", str(root), "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        result.seconds = time.perf_counter() - start
    result.exit_code = done.returncode
    if done.returncode not in (0, 1) or "Traceback" in done.stderr:
        result.crashed = done.stderr.strip()[-3000:] or f"exit code {done.returncode}"
        return result
    result.findings = json.loads(done.stdout)["findings"]
    for f in result.findings:
        where = f"{f['rule']} {f.get('path')}:{f.get('line')}"
        if not f.get("path"):
            continue
        path = root / f["path"]
        if not path.is_file():
            result.problems.append(f"{where}: no such file")
            continue
        if f.get("line") is None:
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not 1 <= f["line"] <= len(lines):
            result.problems.append(f"{where}: past the file's {len(lines)} lines")
            continue
        column = f.get("column")
        if column is not None and not 1 <= column <= len(lines[f["line"] - 1]) + 1:
            result.problems.append(f"{where}: column {column} is outside the line")
        if f["rule"] != "PAR000":
            text = statement(lines, f["line"])
            wanted = mentions(f)
            if wanted and not any(m in text for m in wanted):
                result.problems.append(f"{where}: the line shows none of {wanted}: {text[:120]}")
    return result


def parapet_command() -> list[str]:
    script = Path(sys.executable).parent / "parapet"
    if script.is_file():
        return [str(script)]
    found = shutil.which("parapet")
    if found is None:
        sys.exit("the parapet command is not installed: pip install -e '.[dev]'")
    return [found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="projects to run (default: all)")
    parser.add_argument("--findings", action="store_true", help="list every finding with the line it points at")
    args = parser.parse_args()
    chosen = [p for p in PROJECTS if not args.names or p.name in args.names]
    unknown = set(args.names) - {p.name for p in PROJECTS}
    if unknown:
        sys.exit(f"unknown project(s): {', '.join(sorted(unknown))}; known: {', '.join(p.name for p in PROJECTS)}")
    command = parapet_command()
    results = [check(p, fetch(p), command) for p in chosen]
    header = (
        f"{'project':<34} {'version':<8} {'file (sha256)':<32} {'files':>5} {'lines':>8} {'sec':>5} "
        f"{'findings by rule':<34} {'crash':<5} bad lines"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        by_rule = Counter(f["rule"] for f in r.findings)
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) or "none"
        kind = "wheel" if r.project.wheel else "sdist"
        print(
            f"{r.project.name:<34} {r.project.version:<8} {kind + ' ' + r.project.sha256[:12] + '…':<32} "
            f"{r.files:>5,} {r.lines:>8,} {r.seconds:>5.1f} {rules:<34} {'YES' if r.crashed else 'no':<5} "
            f"{len(r.problems)}"
        )
    failed = False
    for r in results:
        if r.crashed:
            failed = True
            print(f"\n{r.project.name} crashed:\n{r.crashed}")
        for problem in r.problems:
            failed = True
            print(f"{r.project.name}: {problem}")
    if args.findings:
        for r in results:
            root = fetch(r.project)
            for f in r.findings:
                lines = (root / f["path"]).read_text(encoding="utf-8", errors="replace").splitlines()
                text = statement(lines, f["line"]) if f.get("line") else ""
                print(
                    f"\n{r.project.name} {f['rule']} {f['severity']}/{f.get('confidence')} {f['path']}:{f.get('line')}"
                    f"\n  {f['message']}\n  > {text[:200]}"
                )
    print("\nsha256 of each file:")
    for r in results:
        print(f"  {r.project.filename}  {r.project.sha256}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
