"""What every HTTP integration records: one observation per request, and the requests in flight.

``http_request_method`` is one of the nine standard methods or ``_OTHER``; ``http_route`` is the router's
template (empty when nothing matched); ``error_type`` is the exception's class name when the handler
raised, the status code for a 5xx response, and empty otherwise (as OpenTelemetry's semantic conventions).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from parapet.metrics.contract import HTTP_METHOD_SET, contract
from parapet.metrics.exemplars import trace_exemplar


def normalize_method(method: str) -> str:
    return method if method in HTTP_METHOD_SET else "_OTHER"


def error_type_for(status: int, exc: BaseException | None = None) -> str:
    if exc is not None:
        return type(exc).__qualname__
    if status >= 500:
        return str(status)
    return ""


class HttpRecorder:
    """Records requests into the contract's HTTP families of one registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, exemplars: bool = True) -> None:
        families = contract(registry)
        self._duration = families.http_duration
        self._active_family = families.http_active
        self._active: dict[str, Gauge] = {}
        self._exemplars = exemplars

    def active(self, method: str) -> Gauge:
        """The in-flight gauge of a normalised method."""
        gauge = self._active.get(method)
        if gauge is None:
            gauge = self._active_family.child((method,))
            self._active[method] = gauge
        return gauge

    def observe(self, method: str, route: str, status: int, error_type: str, seconds: float) -> None:
        child = self._duration.child((method, route, str(status), error_type))
        child.observe(seconds, trace_exemplar() if self._exemplars else None)
