"""The base of every cardinality rule: identity, why (the docstring), message, fix, and examples that are tests.

A rule looks at one file's facts with the repository index at hand and yields ``Finding`` objects of the
doctor framework, so suppression, fingerprints and the output formats are shared with ``parapet doctor``.
**One finding per cause.** A rule passes ``cause=`` for what a finding is about (a metric and a label); the
findings of one rule with the same cause, over the whole repository, become one (``check_files``): at its worst
place (severity first, then path and line), with the others as ``related`` locations (SARIF
``relatedLocations``, listed under it in text), at the worst severity and the highest confidence of them all. A
label whose very name is unbounded is PAR402's cause: the value rules leave its values to PAR402, which lists
the places that set them (``named_unbounded``).

``VALID`` and ``INVALID`` examples are source snippets, or ``{path: source}`` dicts for examples that span
files (a ``pyproject.toml`` entry is the configuration, a ``parapet.yaml`` entry the spec that ``check_spec``
reads); ``tests/cardinality`` turns each one into a named test, so a rule without examples cannot pass.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from parapet.spec.model import Spec
from parapet_cli.analyzers.cardinality.config import Config
from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Kind, Site, Use, Value
from parapet_cli.analyzers.cardinality.names import unbounded_name
from parapet_cli.doctor.findings import Confidence, Finding, Related, Severity

__all__ = [
    "Config",
    "Example",
    "Rule",
    "SpecInput",
    "label_values",
    "lowest",
    "metric_name",
    "named_unbounded",
    "values_of_kind",
]

Example = str | Mapping[str, str]

_CONFIDENCE_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


@dataclass(frozen=True)
class SpecInput:
    """The repository's spec, for rules that read it: its repository-relative path, its text (to find lines and
    positions in) and the loaded model."""

    path: str
    text: str
    spec: Spec


def lowest(*confidences: Confidence) -> Confidence:
    return min(confidences, key=lambda c: _CONFIDENCE_RANK[c])


class Rule:
    ID: ClassVar[str]
    NAME: ClassVar[str]
    TITLE: ClassVar[str]
    SEVERITY: ClassVar[Severity]  # the highest severity the rule reports
    MESSAGE: ClassVar[str]  # a template over {metric}, {label} and {detail}
    FIX: ClassVar[str]
    VALID: ClassVar[Sequence[Example]]
    INVALID: ClassVar[Sequence[Example]]

    @classmethod
    def why(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "").strip()

    def __init__(self) -> None:
        self._causes: dict[Finding, Hashable] = {}  # the cause of each finding made since check_files began

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        raise NotImplementedError

    def check_files(self, files: Iterable[FileFacts], index: Index, config: Config) -> list[Finding]:
        """``check`` over every file, then one finding per cause."""
        self._causes = {}
        found = [finding for facts in files for finding in self.check(facts, index, config)]
        try:
            return _one_per_cause(found, self._causes)
        finally:
            self._causes = {}

    def check_spec(self, spec: SpecInput, index: Index, config: Config) -> Iterator[Finding]:
        """Findings in the spec (its SLO queries), run once per analysis when a spec loads; none by default."""
        return iter(())

    def finding(
        self,
        site: Site,
        *,
        metric: str,
        label: str,
        detail: str,
        hint: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence = Confidence.HIGH,
        cause: Hashable | None = None,
        related: Sequence[tuple[Site, str]] = (),
    ) -> Finding:
        """A finding at ``site``; ``cause`` is what it is about (findings of one cause are merged into one);
        ``related`` are other places of it, with what happens at each. The fingerprint's subject holds the text of
        every place, so a baselined cause that gains a new place is reported again."""
        subject = f"{metric} {label} {site.text}" + "".join(sorted(f"\n{s.text}" for s, _ in related))
        finding = Finding(
            rule=self.ID,
            severity=severity or self.SEVERITY,
            message=self.MESSAGE.format(metric=metric, label=label, detail=detail),
            hint=hint or self.FIX,
            path=site.path,
            line=site.line,
            column=site.column,
            confidence=confidence,
            subject=subject,
            extra=(("metric", metric), ("label", label)),
            related=tuple(Related(s.path, s.line, s.column, message) for s, message in related),
        )
        if cause is not None:
            self._causes[finding] = cause
        return finding


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


def _one_per_cause(found: list[Finding], causes: Mapping[Finding, Hashable]) -> list[Finding]:
    """Findings of the same cause merged: the worst first place, the others as related locations."""
    groups: dict[Hashable, list[Finding]] = {}
    out: list[Finding | Hashable] = []
    for finding in found:
        cause = causes.get(finding)
        if cause is None:
            out.append(finding)
            continue
        key = ("cause", cause)
        if key not in groups:
            groups[key] = []
            out.append(key)
        groups[key].append(finding)
    merged: list[Finding] = []
    for item in out:
        if isinstance(item, Finding):
            merged.append(item)
            continue
        group = sorted(
            dict.fromkeys(groups[item]),
            key=lambda f: (-_SEVERITY_RANK[f.severity], f.path or "", f.line or 0, f.column or 0),
        )
        first, rest = group[0], group[1:]
        related = list(first.related)
        for other in sorted(rest, key=lambda f: (f.path or "", f.line or 0, f.column or 0)):
            related.append(Related(other.path or "", other.line, other.column, other.message))
            related.extend(other.related)
        unique = list(
            dict.fromkeys(x for x in related if (x.path, x.line, x.column) != (first.path, first.line, first.column))
        )
        best = max((f.confidence for f in group), key=lambda c: _CONFIDENCE_RANK[c])
        subject = first.subject + "".join(sorted(f"\n{f.subject}" for f in rest))
        merged.append(replace(first, related=tuple(unique), confidence=best, subject=subject))
    return merged


def named_unbounded(definition: Definition | None, label: str, config: Config) -> bool:
    """Whether PAR402 reports ``label`` of ``definition`` by its name: then the label is the cause, and the
    places that set its values are listed under PAR402's finding rather than reported again."""
    if definition is None or unbounded_name(label) is None or config.allowed(label):
        return False
    return definition.otel or label in (definition.labels or ())


def metric_name(definition: Definition | None, use: Use | None = None) -> str:
    if definition is not None:
        return definition.name or definition.key.rsplit(".", 1)[-1] or "<metric>"
    return use.attr if use is not None else "<metric>"


def label_values(facts: FileFacts, index: Index) -> Iterator[tuple[Use, Definition | None, Confidence, str, Value]]:
    """Every label value set in the file: (use, its definition, how sure the match is, label name, value).

    ``.labels()`` is prometheus_client's own name, so its values are checked even when the metric is not
    found (at medium confidence); ``.remove()`` and ``.add_metric()`` only when the receiver is a known metric.
    """
    for use in facts.uses:
        resolved = index.resolve(use)
        if resolved is None and use.method != "labels":
            continue
        definition, sure = resolved if resolved is not None else (None, Confidence.MEDIUM)
        labels = definition.labels if definition is not None else None
        for i, value in enumerate(use.positional):
            name = labels[i] if labels is not None and i < len(labels) else f"#{i + 1}"
            yield use, definition, sure, name, value
        for name, value in use.keywords:
            yield use, definition, sure, name, value


def values_of_kind(
    facts: FileFacts, index: Index, kind: Kind, config: Config
) -> Iterator[tuple[Use, str, str, Value, Confidence, Hashable]]:
    """(use, metric, label, value, confidence, cause) for every label value of ``kind``, but those of a label
    PAR402 reports by its name (``named_unbounded``). The cause is the metric and the label: the definition's
    key, or for a metric not found, the receiver's name in this file."""
    for use, definition, sure, label, value in label_values(facts, index):
        if value.kind is kind and not named_unbounded(definition, label, config):
            metric = metric_name(definition, use)
            cause = (
                (definition.key or definition.site, label) if definition is not None else (facts.path, use.attr, label)
            )
            yield use, metric, label, value, lowest(sure, value.confidence), cause
