"""What every check receives: the repository, its Python modules, its topology and the spec (if it loads)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from parapet.errors import SpecError
from parapet.spec.model import Spec
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, PyIndex
from parapet_cli.doctor.repo import Repo
from parapet_cli.doctor.topology import Line, Topology, infer

T = TypeVar("T")


@dataclass
class Context:
    root: Path
    repo: Repo
    spec_path: Path | None = None  # None: no spec in the repository
    spec: Spec | None = None
    spec_error: SpecError | None = None
    # What the command line hands to checks beyond the repository, one object per type (an analyzer's own options
    # class), found with ``option``.
    options: tuple[object, ...] = ()
    wants: Mapping[str, re.Pattern[str] | None] | None = None  # check id -> the modules it needs (None: all)
    cache: bool = False  # remember per file which checks need which modules ($PARAPET_CACHE_DIR)
    _shared: dict[Callable[[Context], object], object] = field(default_factory=dict, repr=False)

    def option(self, kind: type[T], default: T) -> T:
        """The options object of type ``kind`` the run was given, else ``default``."""
        for given in self.options:
            if isinstance(given, kind):
                return given
        return default

    def shared(self, compute: Callable[[Context], T]) -> T:
        """``compute(self)``, computed once per run: what several checks share (an analysis of the code)."""
        if compute not in self._shared:
            self._shared[compute] = compute(self)
        found: T = self._shared[compute]  # type: ignore[assignment]
        return found

    @cached_property
    def py(self) -> PyIndex:
        return PyIndex(self.repo, self.wants, cache=self.cache)

    @cached_property
    def topology(self) -> Topology:
        declared = self.spec.topology if self.spec is not None else None
        return infer(self.repo, self.py, declared)

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


def gate(base: Severity, multi: bool | None) -> Severity | None:
    """The severity of a multi-node finding: as is when several copies run, one step lower when unknown,
    nothing when exactly one runs."""
    if multi is False:
        return None
    return base if multi else base.lowered()


UNKNOWN_NOTE = " (topology unknown: treated as several copies, severity lowered one step)"


def unknown_suffix(multi: bool | None) -> str:
    return UNKNOWN_NOTE if multi is None else ""


def at_line(
    rule: str,
    severity: Severity,
    line: Line,
    message: str,
    hint: str,
    *,
    confidence: Confidence = Confidence.HIGH,
) -> Finding:
    path = None if line.path == "spec" else line.path
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        hint=hint,
        path=path,
        line=line.line,
        confidence=confidence,
        subject=line.text,
    )


def at_node(
    rule: str,
    severity: Severity,
    module: Module,
    lineno: int,
    col: int | None,
    message: str,
    hint: str,
    *,
    confidence: Confidence = Confidence.HIGH,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        hint=hint,
        path=module.rel,
        line=lineno,
        column=None if col is None else col + 1,
        confidence=confidence,
        subject=module.line(lineno),
    )
