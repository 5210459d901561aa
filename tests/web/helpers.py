"""Seeding incidents for the UI tests, through the store's own API."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher

from parapet.evidence import Alert, Store
from parapet.web.identity import Role

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PASSWORDS = {"vera": "viewer-password-1", "rita": "responder-password-1", "adam": "admin-password-1"}


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


ROLES = {"vera": Role.VIEWER, "rita": Role.RESPONDER, "adam": Role.ADMIN}
# Cheap argon2 parameters for tests (a hash carries its own parameters, so verifying it is cheap too);
# `parapet users add` writes the library's defaults, tested once in test_identity.py.
_cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@functools.cache
def _users_text() -> str:
    return "".join(f"{name} {ROLES[name].value} {_cheap.hash(pw)}\n" for name, pw in PASSWORDS.items())


def write_users(path: Path) -> Path:
    path.write_text("# test users\n" + _users_text(), encoding="utf-8")
    return path


def seed(store: Store, clock: Clock) -> dict[str, int]:
    """A small, varied queue: severities, states, services, a deploy before one incident, hostile text."""
    ids: dict[str, int] = {}
    clock.at = NOW - timedelta(minutes=50)
    store.record_system_event(
        "deploy", service="checkout", actor="ci", message="checkout v2.31.0 (a1b2c3d)", occurred_at=clock.at
    )
    store.record_system_event("flag", service=None, actor="ops", message="new-pricing on", occurred_at=clock.at)
    store.record_system_event(
        "deploy", service="search", actor="ci", message="search v9 (unrelated service)", occurred_at=clock.at
    )
    clock.at = NOW - timedelta(minutes=30)
    ids["checkout"] = store.open_or_touch(
        Alert(
            correlation_key="checkout/availability",
            alert_name="ParapetSLOBurnRateFast",
            severity="critical",
            title="checkout availability SLO burning 14x",
            service="checkout",
            slo="availability",
            summary="5xx ratio at 4.2% over 5m and 1h; budget for 30d gone in 2 days at this rate.",
            labels={"service": "checkout", "slo": "availability", "severity": "page", "region": "eu-west-1"},
            annotations={"runbook_url": "https://runbooks.example.com/checkout", "summary": "5xx ratio at 4.2%"},
            runbook_url="https://runbooks.example.com/checkout",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        )
    ).incident.id
    clock.at = NOW - timedelta(minutes=20)
    ids["search"] = store.open_or_touch(
        Alert(
            correlation_key="search/latency",
            alert_name="ParapetSLOBurnRateSlow",
            severity="warning",
            title="search latency SLO burning 3x",
            service="search",
            slo="latency",
        )
    ).incident.id
    clock.at = NOW - timedelta(minutes=10)
    hostile = store.open_or_touch(
        Alert(
            correlation_key="hostile/1",
            alert_name="Hostile",
            severity="info",
            title=f"disk nearly full {HOSTILE}",
            service="storage",
            summary=HOSTILE,
            labels={"instance": "x" * 300, "evil": HOSTILE},
            annotations={"runbook_url": "javascript:alert(1)", "description": HOSTILE},
            runbook_url="javascript:alert(1)",
        )
    ).incident
    ids["hostile"] = hostile.id
    store.add_note(hostile.id, actor="rita", text=f"looked at it {HOSTILE}")
    clock.at = NOW - timedelta(hours=3)
    old = store.open_or_touch(
        Alert(
            correlation_key="api/errors", alert_name="APIErrors", severity="critical", title="api errors", service="api"
        )
    ).incident
    clock.at = NOW - timedelta(hours=2, minutes=55)
    store.acknowledge(old.id, actor="rita")
    clock.at = NOW - timedelta(hours=2)
    store.resolve(old.id, actor="system:alertmanager")
    ids["resolved"] = old.id
    clock.at = NOW
    return ids


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_fields(html: str, action_suffix: str) -> dict[str, str]:
    """The hidden fields of the form whose action ends with ``action_suffix``."""
    import re

    for form in re.finditer(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', html, re.S):
        if form.group(1).endswith(action_suffix):
            return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    raise AssertionError(f"no form posting to …{action_suffix}")
