"""Errors of the metric helpers: ``MetricDefinitionError`` (a metric breaks a label rule of METRICS.md when it is
defined) and ``MultiprocessError`` (PROMETHEUS_MULTIPROC_DIR is missing, not a directory or not writable), both
``ConfigError``; ``LabelValueError`` (also a ``ValueError``: a value outside a label's closed set, or an undeclared
journey). Where they sit among Parapet's errors is drawn once, in ``parapet.errors``.

Definition errors are raised at import time of the host's code, so a bad label never reaches a scrape.
"""

from __future__ import annotations

from parapet.errors import ConfigError, ParapetError


class MetricDefinitionError(ConfigError):
    """A metric definition breaks the label contract; ``hint`` says what to use instead."""

    def __init__(self, metric: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"metric {metric!r}: {message}", hint)
        self.metric = metric

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


class MultiprocessError(ConfigError):
    """prometheus_client multiprocess mode is configured in a way that cannot work."""

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (hint: {self.hint})"


class LabelValueError(ParapetError, ValueError):
    """A label value outside the label's closed set."""
