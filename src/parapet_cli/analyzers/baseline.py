"""A baseline: the findings a team has accepted for now, by fingerprint, so CI fails only on new ones.

    save_baseline(report, path)         write every active finding's fingerprint
    apply_baseline(report, path) -> n   mark findings in the baseline as suppressed ("baseline"); n = how many

Fingerprints hash the rule, the path and the offending line's text (never its number), so a baselined finding
stays baselined when lines are inserted above it; editing the offending line itself makes it new again.
The file is JSON and sorted, so it diffs well in review.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from parapet.errors import ConfigError
from parapet_cli.doctor.runner import Report

VERSION = 1
KIND = "baseline"


def save_baseline(report: Report, path: Path) -> int:
    entries = {
        r.fingerprint: {"rule": r.finding.rule, "path": r.finding.path, "message": r.finding.message}
        for r in report.active
    }
    body = {"version": VERSION, "fingerprints": dict(sorted(entries.items()))}
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return len(entries)


def load_baseline(path: Path) -> set[str]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"baseline not found: {path}", hint="create it with --baseline PATH --update-baseline"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the baseline {path}: {exc}", hint="regenerate it with --update-baseline"
        ) from exc
    fingerprints = body.get("fingerprints") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("version") != VERSION or not isinstance(fingerprints, dict):
        raise ConfigError(
            f"{path} is not a parapet baseline (version {VERSION})", hint="regenerate it with --update-baseline"
        )
    return set(fingerprints)


def apply_baseline(report: Report, path: Path) -> int:
    known = load_baseline(path)
    count = 0
    results = []
    for r in report.results:
        if r.suppressed is None and r.fingerprint in known:
            r = replace(r, suppressed=KIND, reason=f"in the baseline {path.name}")
            count += 1
        results.append(r)
    report.results = results
    return count
