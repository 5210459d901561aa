"""Property tests of the payload parser: any JSON is a Delivery or a PayloadError (never another exception),
and labels come out as bounded text whatever came in."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from parapet.alerts.fingerprint import fingerprint
from parapet.alerts.payload import (
    MAX_ANNOTATION_CHARS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_NAME_CHARS,
    PayloadError,
    parse_body,
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
label_maps = st.dictionaries(st.text(max_size=200), values | st.text(min_size=1000, max_size=1200), max_size=80)


def _alert(labels: Any, status: Any, starts: Any, annotations: Any) -> dict[str, Any]:
    return {"status": status, "labels": labels, "annotations": annotations, "startsAt": starts}


alerts = st.builds(
    _alert,
    labels=label_maps | values,
    status=st.sampled_from(["firing", "resolved"]) | values,
    starts=st.sampled_from(["2026-12-06T12:00:00Z", "2026-12-06T12:00:00.5+05:30", "bad", ""]) | values,
    annotations=label_maps | values,
)


@settings(max_examples=300, deadline=None)
@given(version=st.sampled_from(["4", "3", 4]) | values, body=st.lists(alerts, max_size=5) | values)
def test_any_json_is_a_delivery_or_a_payload_error(version: Any, body: Any) -> None:
    raw = json.dumps({"version": version, "alerts": body}).encode()
    try:
        delivery = parse_body(raw)
    except PayloadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for a in delivery.alerts:
        assert len(a.labels) <= MAX_LABELS and len(a.annotations) <= MAX_LABELS
        assert all(isinstance(k, str) and len(k) <= MAX_NAME_CHARS for k in a.labels)
        assert all(isinstance(v, str) and len(v) <= MAX_LABEL_CHARS and "\x00" not in v for v in a.labels.values())
        assert all(len(v) <= MAX_ANNOTATION_CHARS for v in a.annotations.values())
        assert a.starts_at.utcoffset() is not None and a.starts_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert len(a.fingerprint) == 16


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=30), max_size=10))
def test_a_computed_fingerprint_is_that_of_the_labels_received(labels: dict[str, str]) -> None:
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-12-06T12:00:00Z"}
    (parsed,) = parse_body(json.dumps({"version": "4", "alerts": [alert]}).encode()).alerts
    assert parsed.fingerprint_computed and parsed.fingerprint == fingerprint(labels)
