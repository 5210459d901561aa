"""``parapet doctor cardinality`` on a large tree, cold and warm, next to a Fixit-style libcst pass.

    python benchmarks/cardinality.py                    # the installed Django package
    python benchmarks/cardinality.py --root ~/src/big-repo --jobs 2

Cold: an empty facts cache. Warm: the same run again with the cache it left. Then the same files through the
engine work Fixit does for one trivial rule (libcst parse, ``ParentNodeProvider``, one traversal; Fixit itself
is not a dependency). Prints lines per second for each and the ratios. Targets on 2 cores: cold under 5 s for
400,000 lines (at least 15x Fixit's rate), warm under 1 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider

from parapet_cli.analyzers.cardinality.engine import analyze, select_files
from parapet_cli.doctor.repo import Repo


def _default_root() -> Path:
    spec = importlib.util.find_spec("django")
    if spec is None or spec.origin is None:
        sys.exit("no --root given and Django is not installed: pass --root")
    return Path(spec.origin).parent


class _Trivial(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (ParentNodeProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def visit_Call(self, node: cst.Call) -> None:
        self.count += 1


def _libcst_pass(root: Path, files: list[str]) -> float:
    start = time.perf_counter()
    for rel in files:
        try:
            MetadataWrapper(cst.parse_module((root / rel).read_bytes())).visit(_Trivial())
        except (cst.ParserSyntaxError, OSError):
            continue
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-fixit", action="store_true", help="only time parapet (the libcst pass is slow)")
    args = parser.parse_args()
    root = (args.root or _default_root()).resolve()
    files = select_files(root, Repo(root).files, ())
    lines = 0
    for rel in files:
        try:
            lines += (root / rel).read_bytes().count(b"\n")
        except OSError:
            continue
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["PARAPET_CACHE_DIR"] = cache
        for label in ("parapet cold", "parapet warm"):
            start = time.perf_counter()
            analysis = analyze(root, files, args.jobs, cache=True)
            rows.append((label, time.perf_counter() - start))
    parsed = len(analysis.files)
    if not args.skip_fixit:
        rows.append(("libcst parse+parents+visit", _libcst_pass(root, files)))
    print(f"{root}: {len(files)} Python files, {lines:,} lines; {parsed} files reached libcst; jobs={args.jobs}")
    print(f"{'run':<28} {'seconds':>9} {'lines/s':>12} {'x baseline':>11}")
    base = rows[-1][1] if len(rows) > 2 else None
    for label, seconds in rows:
        rate = lines / seconds if seconds else float("inf")
        ratio = f"{base / seconds:>10.1f}x" if base and seconds else f"{'-':>11}"
        print(f"{label:<28} {seconds:>9.2f} {rate:>12,.0f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
