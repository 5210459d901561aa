"""``parapet install`` on the example service (examples/shop), as a user runs it: a new process each time.

    python benchmarks/install.py [--rounds 5]

Each round copies examples/shop to a temporary directory and unwires it (the files Parapet generated and
the lines its codemods added are removed, so the copy is the service before its first install), then
times, each in a new ``parapet`` process:

    cold     the first install: spec read, spine, rules, dashboards, four codemods, everything written
    again    the second run: everything ``identical``, nothing written
    check    ``--check``, as CI runs it

and prints the median, best and worst of each, next to the target (under 3 s). Interpreter start-up and
imports are included: they are what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shop"
TARGET_SECONDS = 3.0
MARKER = "# parapet: managed"
# The lines the codemods add that carry no marker: their imports, and the Alembic filter argument.
ADDED_LINES = frozenset(
    {
        "from parapet.metrics import metrics_asgi_app",
        "from parapet.metrics.asgi import ParapetMiddleware",
        "from parapet.metrics.sqlalchemy import instrument_engine",
        "from parapet.metrics.celery import instrument_celery",
        "from parapet.evidence.alembic import include_name",
        "include_name=include_name,",
    }
)


def unwire(root: Path) -> None:
    """Turn an installed copy of the example back into the service before ``parapet install``."""
    manifest = root / ".parapet" / "manifest.json"
    for key in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
        (root / key).unlink(missing_ok=True)
    shutil.rmtree(root / ".parapet")
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.rstrip().endswith(MARKER) and line.strip() not in ADDED_LINES]
        if kept != lines:
            path.write_text("".join(kept), encoding="utf-8")
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()


def copy_example(parent: Path) -> Path:
    host = parent / "shop"
    shutil.copytree(EXAMPLE, host, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return host


def _parapet() -> list[str]:
    found = shutil.which("parapet")
    return [found] if found else [sys.executable, "-m", "parapet_cli"]


def timed(args: list[str]) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    done = subprocess.run([*_parapet(), *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"parapet {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    runs: dict[str, list[float]] = {"cold": [], "again": [], "check": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="parapet-install-bench-") as tmp:
            host = copy_example(Path(tmp))
            unwire(host)
            runs["cold"].append(timed(["install", str(host)]))
            runs["again"].append(timed(["install", str(host)]))
            runs["check"].append(timed(["install", str(host), "--check"]))
    print(f"parapet install on examples/shop, {args.rounds} round(s), a new process per run")
    print(f"{'run':<8} {'median s':>9} {'best s':>8} {'worst s':>8}   target")
    for name, seconds in runs.items():
        median = statistics.median(seconds)
        verdict = "ok" if median < TARGET_SECONDS else "SLOW"
        row = f"{name:<8} {median:>9.2f} {min(seconds):>8.2f} {max(seconds):>8.2f}"
        print(f"{row}   < {TARGET_SECONDS:.0f} s {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
