"""``parapet doctor cardinality`` on large real trees, cold and warm, next to real Fixit with one trivial rule.

    python benchmarks/cardinality.py                  # Synapse (metric-dense), then SGLang (sparse)
    python benchmarks/cardinality.py --root PATH      # any one tree, e.g. a checkout of your own service
    python benchmarks/cardinality.py --root "$(python -c 'import django, os; print(os.path.dirname(django.__file__))')"
    python benchmarks/cardinality.py --jobs 2 --skip-fixit --skip-generated

Everything it needs comes with ``pip install -e '.[dev]'`` (Fixit is in the dev extra). The default trees are two
real projects that use prometheus_client, pinned in real_projects.py by file name and SHA-256 and fetched by its
``pip download`` into ``$XDG_CACHE_HOME/parapet-bench/real`` (else ``~/.cache/parapet-bench/real``), once:

- **metric-dense**, the target's kind of tree: Matrix Synapse 1.163.2's wheel (582 files, 252,000 lines), where
  metric definitions and ``.labels()`` calls are spread over some sixty files that all reach libcst;
- **sparse**: SGLang 0.5.23's wheel (4,719 files, 1.8 million lines), where the prefilter keeps all but a few
  dozen files away from libcst, so its rate says more about the prefilter than about the analysis.

A wheel's Python files are the same on every platform, so the x86_64 wheels are fetched everywhere. Without
network, pass ``--root``: the installed Django package is on every dev machine (152,000 lines, sparse).

The rows, for each tree, in the same run:

- the analyzer (``engine.analyze``, in this process): cold with an empty cache; warm with the cache the cold run
  left; and, on the default tree only (``--root`` trees are never written to), warm after every file was
  touched, as in a fresh CI checkout (same bytes, new stat: read and hashed, nothing parsed);
- the command ``parapet doctor cardinality --format json`` as a user runs it (interpreter start, imports,
  walking the tree, rules, output), cold with an empty cache and warm with what the cold run left; Python may
  keep bytecode, as it does by default (``PYTHONDONTWRITEBYTECODE`` is dropped for the commands);
- ``fixit lint`` (Fixit, the libcst linter, from PyPI) with one trivial rule, ``fixit_trivial.py`` beside this
  file, and ``fixit.toml`` so that no other configuration applies. Fixit lints every ``.py`` file of the tree
  (tests included) with all cores, so its rate is over its own line count.

Lines per second are newline counts over the seconds of wall-clock time. Targets on 2 cores: cold under 5 s for
400,000 lines (80,000 lines/s) and at least 15 times Fixit's rate; warm under 1 s. The machine's load average is
printed before and after, since other work on the machine slows every row.

Last, one generated module of 1,000 and then 4,000 metric definitions (each used once) is analysed alone:
milliseconds per definition stay flat when the work is linear in the file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import real_projects

from parapet_cli.analyzers.cardinality import cache as facts_cache
from parapet_cli.analyzers.cardinality.config import load_config
from parapet_cli.analyzers.cardinality.engine import Analysis, analyze, select_files, usable_cores
from parapet_cli.doctor.repo import Repo

HERE = Path(__file__).resolve().parent
TARGET_LINES = 400_000
TARGET_COLD_SECONDS = 5.0
TARGET_RATIO = 15.0
TARGET_WARM_SECONDS = 1.0


# The trees, pinned (with their SHA-256) in real_projects.py's list and fetched by it: a metric-dense one (Synapse:
# 252,000 lines, every few files defines or uses a metric) and a sparse one (SGLang: 1.8 million lines, few do).
SYNAPSE = next(p for p in real_projects.PROJECTS if p.name == "matrix-synapse")
SGLANG = next(p for p in real_projects.PROJECTS if p.name == "sglang")


def settle(root: Path, files: list[str]) -> None:
    """Wait until no file changed within the cache's racy window, so that a warm run can trust every stat
    (a file changed that recently is hashed again, correctly but not what "warm" measures)."""
    newest = 0
    for rel in files:
        st = (root / rel).stat()
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    wait = (newest + facts_cache.RACY_NS - time.time_ns()) / 1e9
    if wait > 0:
        time.sleep(wait + 0.05)


def line_count(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.read_bytes().count(b"\n")
        except OSError:
            continue
    return total


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def timed_analyze(root: Path, files: list[str], jobs: int) -> tuple[float, Analysis]:
    config = load_config(root)
    start = time.perf_counter()
    analysis = analyze(root, files, jobs, cache=True, config=config)
    return time.perf_counter() - start, analysis


def parapet_command() -> list[str]:
    script = Path(sys.executable).parent / "parapet"
    if script.is_file():
        return [str(script)]
    found = shutil.which("parapet")
    if found is None:
        sys.exit("the parapet command is not installed: pip install -e '.[dev]'")
    return [found]


def timed_command(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def fixit_files(root: Path) -> list[Path]:
    """The files ``fixit lint ROOT`` lints: Fixit walks trees with trailrunner (``.py``, minus .gitignore)."""
    import trailrunner

    return list(trailrunner.walk(root))


@dataclass
class Row:
    label: str
    files: int
    lines: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else float("inf")


def bench_tree(root: Path, what: str, jobs: int, skip_fixit: bool, own_copy: bool) -> None:
    """Every row on one tree; ``own_copy``: the benchmark's own download, whose files it may touch."""
    files = select_files(root, Repo(root).files, ())
    lines = line_count([root / rel for rel in files])
    settle(root, files)
    print(f"\ntree: {what}\n      {root}")
    print(
        f"python {platform.python_version()}, libcst {version('libcst')}, fixit {version('fixit')}, "
        f"jobs {jobs}; before: {load()}"
    )
    rows: list[Row] = []
    env = dict(os.environ)
    # As on a user's machine, where Python keeps the bytecode of what it imported (pip compiled Fixit's already).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PARAPET_CACHE_DIR"] = str(Path(tmp) / "analyzer")
        seconds, cold = timed_analyze(root, files, jobs)
        rows.append(Row("analyzer, cold (empty cache)", len(files), lines, seconds))
        seconds, warm = timed_analyze(root, files, jobs)
        rows.append(Row("analyzer, warm (unchanged tree)", len(files), lines, seconds))
        assert warm.files == cold.files, "the warm run's facts differ from the cold run's"
        touched = None
        if own_copy:  # only the benchmark's own copy is touched, never a tree someone else owns
            for rel in files:
                os.utime(root / rel)  # a fresh checkout: same bytes, new stat
            seconds, touched = timed_analyze(root, files, jobs)
            rows.append(Row("analyzer, warm after touching every file", len(files), lines, seconds))
            assert touched.files == cold.files
            settle(root, files)
        env["PARAPET_CACHE_DIR"] = str(Path(tmp) / "command")
        cmd = [*parapet_command(), "doctor", "cardinality", "--root", str(root), "--format", "json"]
        cmd += ["--jobs", str(jobs)]
        seconds, out = timed_command(cmd, env)
        rows.append(Row("parapet doctor cardinality, cold", len(files), lines, seconds))
        findings = len(json.loads(out)["findings"])
        seconds, out = timed_command(cmd, env)
        rows.append(Row("parapet doctor cardinality, warm", len(files), lines, seconds))
        assert len(json.loads(out)["findings"]) == findings
    if not skip_fixit:
        linted = fixit_files(root)
        fixit_cmd = [sys.executable, "-m", "fixit", "--config-file", str(HERE / "fixit.toml")]
        fixit_cmd += ["--rules", ".fixit_trivial", "lint", str(root)]
        seconds, _ = timed_command(fixit_cmd, env, cwd=HERE)
        rows.append(Row("fixit lint (1 trivial rule, all cores)", len(linted), line_count(linted), seconds))
    after = load()

    s = cold.stats
    parsed_lines = line_count([root / f.path for f in cold.files])
    print(
        f"cold: {s.candidates} of {s.files} files passed the prefilter and were parsed by libcst "
        f"({parsed_lines:,} lines, {s.parsed_bytes / 1024:,.0f} KiB), {s.workers} worker process(es) besides "
        "this one; "
        f"warm: {warm.stats.read} files read, {warm.stats.parsed} parsed; "
        + (f"after touching: {touched.stats.read} read, {touched.stats.parsed} parsed; " if touched else "")
        + f"the command reported {findings} findings"
    )
    fixit_rate = rows[-1].rate if not skip_fixit else None
    header = f"{'run':<42} {'files':>6} {'lines':>10} {'seconds':>8} {'lines/s':>11} {'x Fixit':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row.rate / fixit_rate:>7.1f}x" if fixit_rate else f"{'-':>8}"
        print(f"{row.label:<42} {row.files:>6,} {row.lines:>10,} {row.seconds:>8.2f} {row.rate:>11,.0f} {ratio}")
    print(f"after: {after}")
    command_cold, command_warm = (r for r in rows if r.label.startswith("parapet doctor"))
    per_target = command_cold.seconds * TARGET_LINES / lines
    verdicts = [
        f"cold {command_cold.seconds:.2f} s = {per_target:.2f} s per {TARGET_LINES:,} lines "
        f"({'met' if per_target < TARGET_COLD_SECONDS else 'MISSED'}: < {TARGET_COLD_SECONDS:g} s)",
        f"warm {command_warm.seconds:.2f} s ({'met' if command_warm.seconds < TARGET_WARM_SECONDS else 'MISSED'}: "
        f"< {TARGET_WARM_SECONDS:g} s)",
    ]
    if fixit_rate:
        ratio = command_cold.rate / fixit_rate
        verdicts.insert(
            1, f"cold is {ratio:.0f}x Fixit's rate ({'met' if ratio >= TARGET_RATIO else 'MISSED'}: >= 15x)"
        )
    print("targets, measured on the command: " + "; ".join(verdicts))


def generated_module(n: int) -> str:
    """A module of ``n`` metric definitions, each used once, as code generators write them."""
    out = ["from prometheus_client import Counter", ""]
    for i in range(n):
        out.append(f'REQUESTS_{i}_TOTAL = Counter("service_requests_{i}_total", "Requests {i}.", ["method", "code"])')
        out.append(f'REQUESTS_{i}_TOTAL.labels("GET", "200").inc()')
    return "\n".join(out) + "\n"


def bench_generated(sizes: tuple[int, ...] = (1000, 4000)) -> None:
    """One generated module of growing size, in this process: seconds per definition stay flat when the work is
    linear in the file (it was quadratic: the position lookup re-read the file for every call)."""
    from parapet_cli.analyzers.cardinality.recognize import analyze_source

    print(f"\none generated module, parsed alone in this process; before: {load()}")
    header = f"{'definitions':>11} {'KiB':>7} {'seconds':>8} {'ms per definition':>18}"
    print(header)
    print("-" * len(header))
    for n in sizes:
        source = generated_module(n)
        start = time.perf_counter()
        facts = analyze_source("generated.py", source)
        seconds = time.perf_counter() - start
        assert len(facts.definitions) == n and facts.error is None
        print(f"{n:>11,} {len(source) / 1024:>7,.0f} {seconds:>8.2f} {1000 * seconds / n:>18.2f}")
    print(f"after: {load()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="one tree to analyse (default: Synapse, then SGLang)")
    parser.add_argument("--jobs", type=int, default=usable_cores(), help="parapet's parsing processes; Fixit uses all")
    parser.add_argument("--skip-fixit", action="store_true", help="leave Fixit out (it takes minutes on big trees)")
    parser.add_argument("--skip-generated", action="store_true", help="leave out the generated-module rows")
    args = parser.parse_args()
    if args.root is not None:
        bench_tree(args.root.resolve(), str(args.root), args.jobs, args.skip_fixit, own_copy=False)
    else:
        for project, kind in ((SYNAPSE, "metric-dense"), (SGLANG, "sparse")):
            what = f"{kind}: {project.name} {project.version} ({project.filename}, sha256 {project.sha256[:12]}…)"
            bench_tree(real_projects.fetch(project), what, args.jobs, args.skip_fixit, own_copy=True)
    if not args.skip_generated:
        bench_generated()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
