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

``--multinode`` runs ``parapet doctor multinode`` instead, on public services that deploy with Compose, Helm or
Kubernetes files (PyPI packages rarely ship those), each pinned by commit and by a digest of the files the doctor
reads (the ``path git-blob-sha1`` lines of every file under 1 MiB, SHA-256'd). A repository is read from a git
mirror when ``PARAPET_BENCH_GIT`` names a folder holding ``OWNER+NAME/repo`` (bare) or ``OWNER/NAME`` (clone)
git directories, else downloaded from GitHub's archive of that commit, once, into the same store. Every finding
is listed with the line it points at; the table shows each service's processes and its findings by rule.

    python benchmarks/real_projects.py --multinode                # the five services below
    python benchmarks/real_projects.py --multinode healthchecks    # one of them
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
import urllib.request
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


@dataclass(frozen=True)
class Repository:
    owner: str
    name: str
    commit: str
    tree: str  # SHA-256 of the sorted "path git-blob-sha1" lines of its files under 1 MiB (tree_digest)
    what: str

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.commit[:12]}"


REPOSITORIES = (
    Repository(
        "paperless-ngx",
        "paperless-ngx",
        "b0e0e8a35373a5d9d588a507cb63c79e50a23403",
        "7ac605b1dd2180ed4f2978ff7164cff24c466acac32352b807496e5f0d0c018d",
        "Django + Celery; Compose files per database, s6-overlay services (granian, celery worker and beat)",
    ),
    Repository(
        "healthchecks",
        "healthchecks",
        "29b5ec251059034b79e0120e2ff0c3e35d7bd9f8",
        "23c3d3b80f21c0d5523cb7d2befcde6f6e82caabbaad4275e7d9cb4ec8d0fa6c",
        "Django; Compose, uWSGI ini with processes, hook-pre-app migrate, attach-daemon",
    ),
    Repository(
        "CTFd",
        "CTFd",
        "91ced62d44d3ec3142a0948ee96ed19947cfc979",
        "8299e7f9f179b4ed3a93e70150a9108f30097c2a77bf3936fabc9bf8abd570ce",
        "Flask; Compose, gunicorn from an entrypoint script with $WORKERS, flask db upgrade at boot",
    ),
    Repository(
        "DefectDojo",
        "django-DefectDojo",
        "7cfa159a6767b0ac6e66f3b1597a997e607e7308",
        "44874907d36481a232f5c14c9ec7259a22c55e5e50bf6968e6aa131cde8b4ddb",
        "Django + Celery; Compose (uwsgi, celerybeat, celeryworker, initializer), a Helm chart, nginx",
    ),
    Repository(
        "mealie-recipes",
        "mealie",
        "b5643a9399465d8b4ea339e7a6639df2d697741b",
        "e2a4e9d13eef67839510df9eb0ef8560cf914f6db30fe8d47e8287696821ba1a",
        "FastAPI; Compose, an entrypoint COPY'd under another name, uvicorn started from Python",
    ),
)
# The 150k-line repository benchmarks/doctor.py times (its own Compose files are development containers).
LARGE = Repository(
    "saleor",
    "saleor",
    "723cd4eba87dfc72822ade45dc08a3caa548428d",
    "5ae06d1d0cafc578ca15ea2f7c6a847e0b9fa16b553cceb628a9d5a0a6412ef4",
    "Django + Celery GraphQL commerce API; Dockerfile, development Compose files",
)


def tree_digest(root: Path) -> str:
    """SHA-256 of the sorted "path git-blob-sha1" lines of every regular file under 1 MiB (a mirror may lack the
    largest blobs; none of those is a file the doctor reads), whatever the source."""
    lines = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
            data = path.read_bytes()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
            lines.append(f"{path.relative_to(root).as_posix()} {blob}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _from_git(git_dir: Path, commit: str, out: Path) -> None:
    """Every blob of ``commit`` the mirror holds (a snapshot may lack its largest files), written under ``out``."""
    listed = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", "-r", "-z", commit], capture_output=True, check=True
    ).stdout.split(b"\0")
    entries = []
    for entry in listed:
        if entry:
            meta, path = entry.split(b"\t", 1)
            mode, kind, sha = meta.split()
            if kind == b"blob" and mode != b"120000":
                entries.append((path.decode(), sha))
    cat = subprocess.Popen(
        ["git", "-C", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert cat.stdin is not None and cat.stdout is not None
    for path, sha in entries:
        cat.stdin.write(sha + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if header[-1] == b"missing":
            continue
        data = cat.stdout.read(int(header[2]))
        cat.stdout.read(1)
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    cat.stdin.close()
    cat.wait()


def fetch_repository(repo: Repository) -> Path:
    """The repository's tree at its commit (in a folder of its name: the doctor matches image names against it)."""
    tree = _store() / repo.slug
    out = tree / repo.name
    if (tree / ".complete").is_file():
        return out
    shutil.rmtree(tree, ignore_errors=True)
    out.mkdir(parents=True)
    mirrors = os.environ.get("PARAPET_BENCH_GIT")
    candidates = (
        [Path(mirrors) / f"{repo.owner}+{repo.name}" / "repo", Path(mirrors) / repo.owner / repo.name]
        if (mirrors)
        else []
    )
    git_dir = next((c for c in candidates if c.is_dir()), None)
    if git_dir is not None:
        print(f"reading {repo.owner}/{repo.name}@{repo.commit[:12]} from {git_dir} …", file=sys.stderr)
        _from_git(git_dir, repo.commit, out)
    else:
        url = f"https://codeload.github.com/{repo.owner}/{repo.name}/tar.gz/{repo.commit}"
        print(f"downloading {url} …", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            archive_path = Path(tmp) / "tree.tar.gz"
            with urllib.request.urlopen(url, timeout=300) as response:
                archive_path.write_bytes(response.read())
            with tarfile.open(archive_path) as archive:
                archive.extractall(tmp, filter="data")
            (top,) = [p for p in Path(tmp).iterdir() if p.is_dir()]
            for child in top.iterdir():
                child.rename(out / child.name)
    got = tree_digest(out)
    if got != repo.tree:
        sys.exit(f"{repo.owner}/{repo.name}@{repo.commit}: tree digest {got}, expected {repo.tree}")
    (tree / ".complete").write_text(f"{repo.commit} {repo.tree}\n")
    return out


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


def multinode(repos: list[Repository], command: list[str]) -> int:
    """``parapet doctor multinode`` on each service: processes found, every finding with its line, no crash."""
    failed = False
    rows = []
    listing = []
    for repo in repos:
        root = fetch_repository(repo)
        py = [p for p in root.rglob("*.py") if p.is_file()]
        lines = sum(p.read_bytes().count(b"\n") for p in py)
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            done = subprocess.run(
                [*command, "doctor", "--root", str(root), "multinode", "--format", "json"],
                capture_output=True,
                text=True,
                env={**os.environ, "PARAPET_CACHE_DIR": cache},
                check=False,
            )
            seconds = time.perf_counter() - start
        if done.returncode not in (0, 1) or "Traceback" in done.stderr:
            failed = True
            listing.append(f"\n{repo.name} crashed:\n{done.stderr[-3000:]}")
            continue
        body = json.loads(done.stdout)
        findings = [f for f in body["findings"] if f["rule"] != "PAR000"]
        processes = (body.get("topology") or {}).get("processes", [])
        by_rule = Counter(f"{f['rule']} {f['severity']}" for f in findings)
        rows.append((repo, len(py), lines, seconds, len(processes), by_rule, len(body["findings"]) - len(findings)))
        for f in findings:
            where = f"{f.get('path')}:{f.get('line')}"
            text = ""
            if f.get("path") and f.get("line"):
                path = root / f["path"]
                file_lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                if not 1 <= f["line"] <= len(file_lines):
                    failed = True
                    listing.append(f"{repo.name}: {f['rule']} {where} is past the file's {len(file_lines)} lines")
                    continue
                text = file_lines[f["line"] - 1].strip()
            listing.append(f"\n{repo.name} {f['rule']} {f['severity']}/{f.get('confidence')} {where}\n  {f['message']}")
            if text:
                listing.append(f"  > {text[:200]}")
    header = (
        f"{'service':<20} {'commit':<12} {'.py':>5} {'lines':>8} {'sec':>5} {'procs':>5} {'notes':>5} "
        "multi-node findings by rule"
    )
    print(header)
    print("-" * len(header))
    for repo, files, lines, seconds, procs, by_rule, notes in rows:
        rules = ", ".join(f"{k} {n}" for k, n in sorted(by_rule.items())) or "none"
        print(
            f"{repo.name:<20} {repo.commit[:12]:<12} {files:>5,} {lines:>8,} {seconds:>5.1f} {procs:>5} {notes:>5} "
            f"{rules}"
        )
    print("\n".join(listing))
    print("\npinned:")
    for repo in repos:
        print(f"  github.com/{repo.owner}/{repo.name}@{repo.commit}  tree {repo.tree[:16]}…  {repo.what}")
    return 1 if failed else 0


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
    parser.add_argument("--multinode", action="store_true", help="doctor's multi-node checks on pinned services")
    args = parser.parse_args()
    if args.multinode:
        repos = [r for r in REPOSITORIES if not args.names or r.name in args.names]
        unknown_repos = set(args.names) - {r.name for r in REPOSITORIES}
        if unknown_repos:
            sys.exit(f"unknown service(s): {', '.join(sorted(unknown_repos))}")
        return multinode(repos, parapet_command())
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
