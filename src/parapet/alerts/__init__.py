"""Alertmanager intake: the webhook payload, fingerprints, correlation, and the per-delivery transaction.

payload       parse_body(bytes) -> Delivery (per-alert occurrences, UTC times, truncated labels)
fingerprint   fingerprint(labels): Alertmanager's own FNV-1a label hash
correlation   Correlator.from_spec(spec).key(labels, group_labels): which incident an alert joins
intake        ingest(store, delivery, correlator): one transaction, timeline entries only on change
worker        the background loops (reconciler or staleness) and the worker heartbeat
"""

from __future__ import annotations

from parapet.alerts.correlation import Correlator
from parapet.alerts.fingerprint import fingerprint
from parapet.alerts.intake import SYSTEM_ALERTMANAGER, IngestResult, ingest
from parapet.alerts.payload import AlertIn, Delivery, PayloadError, parse_body, parse_payload

__all__ = [
    "SYSTEM_ALERTMANAGER",
    "AlertIn",
    "Correlator",
    "Delivery",
    "IngestResult",
    "PayloadError",
    "fingerprint",
    "ingest",
    "parse_body",
    "parse_payload",
]
