"""The label rules of METRICS.md, checked when a metric is defined.

A metric carries at most ``MAX_LABELS`` labels, counting ``le`` on histograms and the labels an exporter
injects (``pid`` on multiprocess gauges in mode ``all``, three ``otel_scope_*`` through the OpenTelemetry
exporter). Reserved names and names that are unbounded by nature are refused with a message that says what
to use instead; a name that looks unbounded but is not can be allowed explicitly with
``Label(name, allow_unbounded=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from parapet.label_rules import MAX_LABELS, MetricKind, injected_labels, reserved_reason, unbounded_reason
from parapet.metrics.errors import MetricDefinitionError

__all__ = [
    "DEFAULT_VALUE_CAP",
    "MAX_LABELS",
    "OVERFLOW",
    "Label",
    "LabelSpec",
    "MetricKind",
    "check_definition",
    "injected_labels",
    "normalize_labels",
    "reserved_reason",
    "unbounded_reason",
]

DEFAULT_VALUE_CAP = 1000
OVERFLOW = "__overflow__"

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Label:
    """A label and its value rule.

    ``values`` makes the label closed: any other value is refused when it is used. An open label keeps at
    most ``cap`` distinct values per process; later new values are folded into ``__overflow__``.
    """

    name: str
    values: tuple[str, ...] | None = None
    cap: int = DEFAULT_VALUE_CAP
    allow_unbounded: bool = False

    @property
    def closed(self) -> bool:
        return self.values is not None


LabelSpec = str | Label


def normalize_labels(labels: Iterable[LabelSpec]) -> tuple[Label, ...]:
    return tuple(label if isinstance(label, Label) else Label(label) for label in labels)


def check_definition(
    name: str,
    kind: MetricKind,
    labels: Sequence[Label],
    *,
    multiprocess_mode: str | None = None,
    otel_exporter: bool = False,
) -> None:
    """Raise MetricDefinitionError if the metric breaks a label rule of METRICS.md."""
    if not _METRIC_NAME.match(name) or name.startswith("__"):
        raise MetricDefinitionError(
            name,
            "is not a valid metric name",
            "use lower-case words joined by _ ending in the unit, e.g. orders_processed_total or queue_wait_seconds",
        )
    seen: set[str] = set()
    for label in labels:
        if not _LABEL_NAME.match(label.name):
            raise MetricDefinitionError(
                name, f"label {label.name!r} is not a valid label name", "use letters, digits and _ (not first: digit)"
            )
        if label.name in seen:
            raise MetricDefinitionError(name, f"label {label.name!r} is declared twice", "declare each label once")
        seen.add(label.name)
        reserved = reserved_reason(label.name)
        if reserved is not None:
            raise MetricDefinitionError(name, f"label {label.name!r} is reserved: it {reserved[0]}", reserved[1])
        unbounded = unbounded_reason(label.name)
        if unbounded is not None and not label.allow_unbounded and not label.closed:
            raise MetricDefinitionError(
                name,
                f"label {label.name!r} is unbounded by nature: it {unbounded[0]}",
                f"{unbounded[1]}; if its values really are bounded, declare "
                f"Label({label.name!r}, allow_unbounded=True) or give it a closed set of values",
            )
        _check_values(name, label)
    injected = injected_labels(kind, multiprocess_mode=multiprocess_mode, otel_exporter=otel_exporter)
    total = [label.name for label in labels] + list(injected)
    if len(total) > MAX_LABELS:
        raise MetricDefinitionError(
            name,
            f"carries {len(total)} labels ({', '.join(total)}), counting {', '.join(injected) or 'none'} added "
            f"by the exposition; at most {MAX_LABELS} are allowed",
            "drop labels that do not split an SLO or a dashboard, or merge two into one bounded label",
        )


def _check_values(metric: str, label: Label) -> None:
    if label.cap < 1:
        raise MetricDefinitionError(
            metric, f"label {label.name!r} has a value cap of {label.cap}", "give a cap of at least 1 distinct value"
        )
    if label.values is None:
        return
    if not label.values:
        raise MetricDefinitionError(
            metric,
            f"label {label.name!r} is closed over no values",
            "list the values it may take, or leave values unset for an open (capped) label",
        )
    for value in label.values:
        if not isinstance(value, str):
            raise MetricDefinitionError(
                metric, f"label {label.name!r} lists {value!r}, which is not a string", "list values as strings"
            )
        if value == OVERFLOW:
            raise MetricDefinitionError(
                metric,
                f"label {label.name!r} lists {OVERFLOW!r}, which Parapet keeps for folded values",
                "remove it from the values",
            )
    if len(set(label.values)) != len(label.values):
        raise MetricDefinitionError(metric, f"label {label.name!r} lists a value twice", "list each value once")
