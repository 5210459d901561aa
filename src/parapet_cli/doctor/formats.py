"""Machine formats of a doctor report: JSON (documented in docs/doctor.md), SARIF 2.1.0, GitHub annotations.

Pure functions from a ``Report`` to text; the CLI writes it to stdout. The people's table lives in the CLI.
"""

from __future__ import annotations

import json
from typing import Any

from parapet import __version__
from parapet_cli.doctor.findings import Related, Severity
from parapet_cli.doctor.registry import CheckInfo, info
from parapet_cli.doctor.runner import Report, Reported

JSON_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/parapet-py/parapet/blob/main/docs/checks.md"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
GITHUB_LIMIT = 10  # GitHub shows at most 10 annotations of each level per step


def finding_json(r: Reported) -> dict[str, Any]:
    f = r.finding
    out: dict[str, Any] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "confidence": f.confidence.value,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "message": f.message,
        "hint": f.hint,
        "fingerprint": r.fingerprint,
    }
    for key, value in f.extra:
        out.setdefault(key, value)
    if f.related:
        out["related"] = [{"path": x.path, "line": x.line, "column": x.column, "message": x.message} for x in f.related]
    if r.suppressed is not None:
        out["suppressed"] = {"kind": r.suppressed, "reason": r.reason}
    return out


def to_json(report: Report) -> str:
    topology = report.topology
    body: dict[str, Any] = {
        "version": JSON_VERSION,
        "tool": {"name": "parapet", "version": __version__},
        "fail_on": report.fail_on.value,
        "exit_code": report.exit_code,
        "summary": report.counts(),
        "checks": [c.id for c in report.checks],
        "findings": [finding_json(r) for r in report.active],
        "suppressed": [finding_json(r) for r in report.suppressed],
        "topology": None
        if topology is None
        else {
            "replicas": topology.replicas,
            "autoscaled": topology.many,
            "workers": topology.workers,
            "declared": topology.declared,
            "processes": [
                {
                    "name": p.name,
                    "origin": p.origin,
                    "path": p.path,
                    "line": p.line,
                    "kind": p.kind,
                    "replicas": p.replicas,
                    "autoscaled": p.many,
                }
                for p in topology.processes
            ],
        },
    }
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def _rule(i: CheckInfo) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "shortDescription": {"text": i.title},
        "fullDescription": {"text": i.why},
        "help": {"text": i.fix, "markdown": f"**Why:** {i.why}\n\n**Fix:** {i.fix}"},
        "helpUri": f"{INFORMATION_URI}#{i.id.lower()}",
        "defaultConfiguration": {"level": SARIF_LEVEL[i.severity]},
        "properties": {"family": i.family, "tags": [i.family]},
    }


def _physical(path: str, line: int | None, column: int | None) -> dict[str, Any]:
    """SARIF's physicalLocation: the file, and the region where the line (and column) is known."""
    location: dict[str, Any] = {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"}}
    if line is not None:
        region: dict[str, Any] = {"startLine": line}
        if column is not None:
            region["startColumn"] = column
        location["region"] = region
    return location


def _related(n: int, x: Related) -> dict[str, Any]:
    return {"id": n, "physicalLocation": _physical(x.path, x.line, x.column), "message": {"text": x.message}}


def to_sarif(report: Report) -> str:
    ids = sorted({c.id for c in report.checks} | {r.finding.rule for r in report.results})
    rules = [_rule(info(i)) for i in ids]
    index = {i: n for n, i in enumerate(ids)}
    results = []
    for r in report.results:
        f = r.finding
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}. Fix: {f.hint}" if f.hint else f.message},
            "partialFingerprints": {"parapet/v1": r.fingerprint},
            "properties": {"confidence": f.confidence.value, "severity": f.severity.value},
        }
        if f.path is not None:
            result["locations"] = [{"physicalLocation": _physical(f.path, f.line, f.column)}]
        if f.related:
            result["relatedLocations"] = [_related(n, x) for n, x in enumerate(f.related, start=1)]
        if r.suppressed is not None:
            result["suppressions"] = [
                {"kind": "inSource" if r.suppressed == "inline" else "external", "justification": r.reason or ""}
            ]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "parapet",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.resolve().as_uri() + "/"}},
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(log, indent=2, sort_keys=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(report: Report) -> str:
    """``::error file=…,line=…::message`` lines; past 10 of a level, one line summarising the rest."""
    lines: list[str] = []
    shown: dict[str, int] = {}
    hidden: dict[str, int] = {}
    for r in report.active:
        f = r.finding
        level = GITHUB_LEVEL[f.severity]
        if shown.get(level, 0) >= GITHUB_LIMIT - 1:
            hidden[level] = hidden.get(level, 0) + 1
            continue
        shown[level] = shown.get(level, 0) + 1
        props = []
        if f.path is not None:
            props.append(f"file={_escape_property(f.path)}")
            if f.line is not None:
                props.append(f"line={f.line}")
                if f.column is not None:
                    props.append(f"col={f.column}")
        props.append(f"title={_escape_property(f'{f.rule} {info(f.rule).name}')}")
        message = f"{f.message}. Fix: {f.hint}" if f.hint else f.message
        if f.related:
            message += ". Also at: " + ", ".join(x.location() for x in f.related)
        lines.append(f"::{level} {','.join(props)}::{_escape_data(message)}")
    for level, count in hidden.items():
        lines.append(
            f"::{level} title=parapet doctor::{count} more {level} finding(s) not shown; "
            "run parapet doctor --format text to see them all"
        )
    return "".join(line + "\n" for line in lines)
