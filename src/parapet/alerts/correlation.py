"""Which incident an alert belongs to: its correlation key.

    override   the spec's ``alertmanager.correlation`` rules, first match wins: alert name + the ``by`` labels
    Parapet's  alerts with ``service`` and ``slo`` labels (the rules ``parapet gen slo`` writes):
               ``service/slo`` + the SLO's ``group_by`` labels, so its page and ticket alerts (and its
               absent-data alert) fold into one incident, whose severity only rises
    other      alert name + the delivery's group labels (Alertmanager's ``group_by``)

Replica labels (``replica``, ``prometheus_replica`` unless the spec says otherwise) never take part, so
two Prometheus replicas' copies of one alert correlate together. Keys longer than the column are
shortened with a hash of the whole, so two different long keys stay different.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from parapet import conventions
from parapet.spec.model import AlertmanagerSettings, CorrelationRule, Spec

MAX_KEY: Final = 255
DEFAULT_SEVERITY_LABEL: Final = "severity"


@dataclass(frozen=True)
class Correlator:
    """Correlation and severity rules, built once from the spec (or the defaults without one)."""

    service: str | None = None
    slo_group_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    severity_labels: Mapping[str, str] = field(default_factory=dict)  # SLO -> its severity label
    ignore: frozenset[str] = frozenset(("replica", "prometheus_replica"))
    rules: tuple[CorrelationRule, ...] = ()

    @classmethod
    def from_spec(cls, spec: Spec | None) -> Correlator:
        if spec is None:
            return cls()
        settings: AlertmanagerSettings = spec.alertmanager
        return cls(
            service=spec.service,
            slo_group_by={s.name: s.group_by for s in spec.slos},
            severity_labels={s.name: s.alerting.severity_label for s in spec.slos if s.alerting is not None},
            ignore=frozenset(settings.ignore_labels),
            rules=settings.correlation,
        )

    def key(self, labels: Mapping[str, str], group_labels: Mapping[str, str]) -> str:
        name = labels.get("alertname", "")
        for rule in self.rules:
            if all(labels.get(k) == v for k, v in rule.match):
                return _shorten(name + _render(labels, rule.by, self.ignore))
        service, slo = labels.get(conventions.LABEL_SERVICE), labels.get(conventions.LABEL_SLO)
        if service and slo and self._is_parapets(service, slo):
            by = self.slo_group_by.get(slo, ())
            return _shorten(f"{service}/{slo}" + _render(labels, by, self.ignore))
        names = [k for k in group_labels if k != "alertname"]
        return _shorten(name + _render(labels, names, self.ignore))

    def severity(self, labels: Mapping[str, str]) -> str:
        slo = labels.get(conventions.LABEL_SLO)
        label = self.severity_labels.get(slo, DEFAULT_SEVERITY_LABEL) if slo else DEFAULT_SEVERITY_LABEL
        return (labels.get(label) or labels.get(DEFAULT_SEVERITY_LABEL) or "none")[:32]

    def _is_parapets(self, service: str, slo: str) -> bool:
        # Without a spec every service/slo pair is taken as Parapet's; with one, only the spec's own SLOs.
        return self.service is None or (service == self.service and slo in self.slo_group_by)


def _render(labels: Mapping[str, str], names: Iterable[str], ignore: frozenset[str]) -> str:
    wanted = sorted({n for n in names if n not in ignore})
    if not wanted:
        return ""
    return "{" + ",".join(f"{n}={labels.get(n, '')!r}" for n in wanted) + "}"


def _shorten(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return key[: MAX_KEY - 18] + "#" + digest
