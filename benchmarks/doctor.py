"""``parapet doctor`` (every check) on a large public service, cold and warm: seconds per run.

    python benchmarks/doctor.py              # saleor at its pinned commit, 1 cold run and 3 warm runs
    python benchmarks/doctor.py --warm 5     # more warm runs

The repository comes from ``real_projects.py`` (``LARGE``: pinned by commit and tree digest, fetched by its
``fetch_repository`` from a git mirror named by ``PARAPET_BENCH_GIT`` or from GitHub's archive). Each run is the
command a user types, ``parapet doctor --root TREE --format json``, in a fresh process. Cold: an empty
``PARAPET_CACHE_DIR``. Warm: the same cache, the tree unchanged. The target is a warm run under 1 s on a
repository of at least 150k lines. Each family is then timed warm on its own (``multinode``, ``config``,
``cardinality``), and the time Python takes to import the CLI, so the table shows where a warm run goes. Next to
wall-clock seconds, the CPU seconds the run used: on a shared, busy machine they move much less than the wall clock.

Python's bytecode cache is on, as an installed Parapet has it: ``PYTHONDONTWRITEBYTECODE`` is dropped from the runs'
environment and the modules a run imports are compiled once before the first timed run (otherwise every run
compiles Parapet's own modules again, about 0.1 s that no user pays).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_projects import LARGE, fetch_repository, parapet_command

# Imports every module a doctor run may import (the checks, the cardinality analyzer and libcst, the store).
COMPILE = (
    "import parapet_cli.cli, parapet.evidence, parapet_cli.analyzers.cardinality.recognize\n"
    "from parapet_cli.doctor.registry import load\n"
    "load()\n"
)


def run(command: list[str], cache: str) -> tuple[float, float, int]:
    """Wall-clock seconds, CPU seconds (user + system of the child: what a busy machine changes least), exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(command, capture_output=True, text=True, env={**env, "PARAPET_CACHE_DIR": cache}, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1) or "Traceback" in done.stderr:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, cpu, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=int, default=3, help="warm runs (default 3)")
    args = parser.parse_args()
    root = fetch_repository(LARGE)
    py = [p for p in root.rglob("*.py") if p.is_file()]
    lines = sum(p.read_bytes().count(b"\n") for p in py)
    parapet = parapet_command()
    full = [*parapet, "doctor", "--root", str(root), "--format", "json"]
    rows: list[tuple[str, list[tuple[float, float, int]]]] = []
    with tempfile.TemporaryDirectory() as cache:
        run([sys.executable, "-c", COMPILE], cache)  # bytecode written once, as an install leaves it
        cold = run(full, cache)
        code = cold[2]
        rows.append(("full doctor, cold (empty cache)", [cold]))
        rows.append(("full doctor, warm", [run(full, cache) for _ in range(args.warm)]))
        for family in ("multinode", "config", "cardinality"):
            rows.append((f"  {family} only, warm", [run([*full, family], cache) for _ in range(args.warm)]))
        imports = [sys.executable, "-c", "import parapet_cli.cli"]
        rows.append(("  python + import of the CLI", [run(imports, cache) for _ in range(args.warm)]))
    print(f"github.com/{LARGE.owner}/{LARGE.name}@{LARGE.commit}: {len(py):,} .py files, {lines:,} lines")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"exit code of the full run: {code}; load average now (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    header = f"{'run':<36} {'runs':>4} {'min s':>7} {'median s':>9} {'median cpu s':>13}"
    print(header)
    print("-" * len(header))
    for name, runs in rows:
        wall = [r[0] for r in runs]
        cpu = [r[1] for r in runs]
        print(
            f"{name:<36} {len(runs):>4} {min(wall):>7.2f} {statistics.median(wall):>9.2f} "
            f"{statistics.median(cpu):>13.2f}"
        )
    warm = statistics.median(r[0] for r in rows[1][1])
    print(f"\ntarget: warm under 1 s on 150k+ lines: {'met' if warm < 1.0 else 'NOT met'} ({warm:.2f} s median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
