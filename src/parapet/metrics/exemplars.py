"""Exemplars: the current OpenTelemetry trace id on histogram observations.

Only when opentelemetry-api is installed, a span is active, valid and sampled (a link to an unsampled
trace would lead nowhere). prometheus_client shows exemplars only in the OpenMetrics exposition and
drops them in multiprocess mode, so they are not computed there.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Exemplar = dict[str, str]

# The current and the deprecated (lower-case) name prometheus_client reads.
_MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")

_source: Callable[[], Exemplar | None] | None = None


def _multiprocess() -> bool:
    return any(name in os.environ for name in _MULTIPROC_ENV)


def _none() -> Exemplar | None:
    return None


def _load() -> Callable[[], Exemplar | None]:
    if _multiprocess():
        return _none
    try:
        from opentelemetry import trace
    except ImportError:
        return _none

    get_current_span = trace.get_current_span
    format_trace_id = trace.format_trace_id
    format_span_id = trace.format_span_id

    def current() -> Exemplar | None:
        ctx = get_current_span().get_span_context()
        if not ctx.is_valid or not ctx.trace_flags.sampled:
            return None
        return {"trace_id": format_trace_id(ctx.trace_id), "span_id": format_span_id(ctx.span_id)}

    return current


def trace_exemplar() -> Exemplar | None:
    """``{"trace_id": …, "span_id": …}`` of the active sampled span, or None."""
    global _source
    if _source is None:
        _source = _load()
    return _source()


def reset() -> None:
    """Look again for opentelemetry and multiprocess mode on the next call (tests, late installs)."""
    global _source
    _source = None
