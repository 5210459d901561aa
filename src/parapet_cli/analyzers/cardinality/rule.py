"""The base of every cardinality rule: identity, why (the docstring), message, fix, and examples that are tests.

A rule looks at one file's facts with the repository index at hand and yields ``Finding`` objects of the
doctor framework, so suppression, fingerprints and the output formats are shared with ``parapet doctor``.
``VALID`` and ``INVALID`` examples are source snippets, or ``{path: source}`` dicts for examples that span
files (a ``pyproject.toml`` entry is the configuration, a ``parapet.yaml`` entry the spec that ``check_spec``
reads); ``tests/cardinality`` turns each one into a named test, so a rule without examples cannot pass.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from parapet.spec.model import Spec
from parapet_cli.analyzers.cardinality.config import Config
from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Index, Kind, Site, Use, Value
from parapet_cli.doctor.findings import Confidence, Finding, Severity

__all__ = ["Config", "Example", "Rule", "SpecInput", "label_values", "lowest", "metric_name", "values_of_kind"]

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

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        raise NotImplementedError

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
    ) -> Finding:
        return Finding(
            rule=self.ID,
            severity=severity or self.SEVERITY,
            message=self.MESSAGE.format(metric=metric, label=label, detail=detail),
            hint=hint or self.FIX,
            path=site.path,
            line=site.line,
            column=site.column,
            confidence=confidence,
            subject=f"{metric} {label} {site.text}",
            extra=(("metric", metric), ("label", label)),
        )


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


def values_of_kind(facts: FileFacts, index: Index, kind: Kind) -> Iterator[tuple[Use, str, str, Value, Confidence]]:
    """(use, metric, label, value, confidence) for every label value of ``kind``."""
    for use, definition, sure, label, value in label_values(facts, index):
        if value.kind is kind:
            yield use, metric_name(definition, use), label, value, lowest(sure, value.confidence)
