"""What a doctor check reports: findings with a rule id, a severity, a confidence and a location.

A check yields ``Finding`` objects and never prints. The runner (``parapet_cli.doctor.runner``) applies
suppressions, gives every finding a line-independent fingerprint and collects them into a ``Report``;
``parapet_cli.doctor.formats`` and the CLI turn that report into text, JSON, SARIF or GitHub annotations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def lowered(self) -> Severity:
        """One step down: what an unknown topology does to a multi-node finding."""
        return Severity.INFO if self is not Severity.ERROR else Severity.WARNING


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Related:
    """Another place that takes part in a finding (a use site of the metric a finding is about), with what
    happens there; SARIF's ``relatedLocations``."""

    path: str
    line: int | None
    column: int | None
    message: str

    def location(self) -> str:
        return _location(self.path, self.line, self.column)


@dataclass(frozen=True)
class Finding:
    """One problem (or, at info, one fact) a check found.

    ``path`` is POSIX and relative to the repository root; ``line`` and ``column`` are 1-based.
    ``subject`` is the stable text the fingerprint is computed from (the offending line's text, say):
    it must not contain line numbers, so that a fingerprint survives edits above the finding.
    ``extra`` carries check-specific keys (``metric``, ``label`` …) that the JSON output adds to the finding.
    ``related`` are the other places of the same cause (one finding per cause, not one per place).
    """

    rule: str
    severity: Severity
    message: str
    hint: str = ""
    path: str | None = None
    line: int | None = None
    column: int | None = None
    confidence: Confidence = Confidence.HIGH
    subject: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    related: tuple[Related, ...] = ()

    def location(self) -> str:
        return "" if self.path is None else _location(self.path, self.line, self.column)


def _location(path: str, line: int | None, column: int | None) -> str:
    """``path``, ``path:line`` or ``path:line:column``."""
    out = path
    if line is not None:
        out += f":{line}"
        if column is not None:
            out += f":{column}"
    return out


def fingerprint(finding: Finding, occurrence: int = 0) -> str:
    """A stable id of a finding: rule, path and subject (never the line), plus its rank among equals."""
    subject = " ".join((finding.subject or finding.message).split())
    raw = f"{finding.rule}\0{finding.path or ''}\0{subject}\0{occurrence}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]
