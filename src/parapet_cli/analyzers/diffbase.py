"""Report only what a change touched: ``--diff-base REF`` keeps findings on lines changed since ``REF``.

    changed_lines(root, ref) -> {path: {line, …}}     from ``git diff --unified=0 REF`` plus untracked files
    apply_diff_base(report, root, ref) -> n            mark the other findings suppressed ("diff-base")

Git is only read (``diff`` and ``ls-files``); paths are relative to ``root``, like the findings'. A finding
without a path (about the repository as a whole) is always kept.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

from parapet.errors import ConfigError
from parapet_cli.doctor.runner import Report

KIND = "diff-base"
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
ALL_LINES = -1  # an untracked file: every line is new


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run git: {exc}", hint="install git, or leave out --diff-base") from exc
    if done.returncode != 0:
        raise ConfigError(
            f"git {' '.join(args[:2])} failed: {done.stderr.strip() or done.returncode}",
            hint="pass a commit, branch or tag that exists, e.g. --diff-base origin/main",
        )
    return done.stdout


def parse_diff(text: str) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in text.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            current = None if target == "/dev/null" else out.setdefault(target.removeprefix("b/"), set())
        elif current is not None and (match := _HUNK.match(line)):
            start, count = int(match.group(1)), int(match.group(2) or "1")
            current.update(range(start, start + count))
    return out


def changed_lines(root: Path, ref: str) -> dict[str, set[int]]:
    changed = parse_diff(
        _git(
            root,
            "diff",
            "--unified=0",
            "--no-color",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "--relative",
            ref,
            "--",
        )
    )
    for rel in _git(root, "ls-files", "--others", "--exclude-standard").splitlines():
        changed[rel] = {ALL_LINES}
    return changed


def _touched(changed: dict[str, set[int]], path: str, line: int | None) -> bool:
    lines = changed.get(path, set())
    return ALL_LINES in lines or (line is None and bool(lines)) or line in lines


def apply_diff_base(report: Report, root: Path, ref: str) -> int:
    changed = changed_lines(root, ref)
    count = 0
    results = []
    for r in report.results:
        f = r.finding
        keep = f.path is None or _touched(changed, f.path, f.line)
        keep = keep or any(_touched(changed, x.path, x.line) for x in f.related)  # a new use of an old cause
        if r.suppressed is None and not keep:
            r = replace(r, suppressed=KIND, reason=f"not on a line changed since {ref}")
            count += 1
        results.append(r)
    report.results = results
    return count
