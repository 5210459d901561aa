"""Change correlation: deploys and feature-flag changes recorded as system events, shown as suspect changes.

Three ways in, one table (``parapet_system_events``) and one shape per kind:

    kind "deploy"        data {"version", "url"}      ``parapet mark deploy`` (CI), ``POST /parapet/changes``
    kind "flag_change"   data {"flags", "provider"}   ``parapet.changes.openfeature.track_flag_changes`` (the
                                                      OpenFeature provider-configuration-changed event), or
                                                      ``POST /parapet/changes``

Three ways out, all from the same rows: the incident page's "Suspect changes" (``Store.changes_before`` over
``changes.window``, one hour by default), MCP's ``list_changes`` (``Store.changes``), and Grafana's
annotations (``parapet.changes.metrics``: the newest change per service and kind as a gauge that the generated
dashboards annotate with). A change is a system event, never a timeline entry: it is shown apart from what
people did to the incident, and it is pruned after ``retention.system_events``.

``ChangeError`` (a ``UserError``): a change that cannot be recorded as given (no service, no version, a link that
is not http(s), a text over its bound); the message names the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from parapet.errors import UserError
from parapet.evidence.store import Store

DEPLOY: Final = "deploy"
FLAG_CHANGE: Final = "flag_change"
KINDS: Final = (DEPLOY, FLAG_CHANGE)

# Bounds of what one change may carry (the store's columns and the page that shows them).
MAX_NAME: Final = 255
MAX_TEXT: Final = 2048
MAX_FLAGS: Final = 100


class ChangeError(UserError):
    """A deploy or flag change that cannot be recorded as given; the message names the field."""


def _name(field: str, value: object, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ChangeError(f"{field} is missing", hint=f"give the change's {field}")
        return None
    if not isinstance(value, str):
        raise ChangeError(f"{field} must be text", hint=f"give the {field} as a string")
    text = value.strip()
    if len(text) > MAX_NAME or any(ch in text for ch in "\r\n\x00"):
        raise ChangeError(
            f"{field} is not a short one-line text", hint=f"use at most {MAX_NAME} characters on one line"
        )
    return text


def _link(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ChangeError("url must be a link of at most 2048 characters", hint="give the pipeline's http(s) URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ChangeError("url is not an http(s) link", hint="give the pipeline or release page, e.g. https://ci/…")
    return value.strip()


def record_deploy(
    store: Store,
    *,
    service: str,
    version: str,
    actor: str | None = None,
    url: str | None = None,
    at: datetime | None = None,
) -> int:
    """Record that ``version`` of ``service`` was deployed (now, or ``at``); returns the event's id."""
    name = _name("service", service)
    ver = _name("version", version)
    who = _name("actor", actor, required=False)
    link = _link(url)
    return store.record_system_event(
        DEPLOY,
        service=name,
        actor=who,
        message=f"deployed {name} {ver}",
        data={"version": ver, "url": link},
        occurred_at=at,
    )


def record_flag_change(
    store: Store,
    *,
    flags: Sequence[str] | None,
    provider: str | None = None,
    service: str | None = None,
    actor: str | None = None,
    message: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Record a feature-flag configuration change (the flags it names; None or empty: not said)."""
    names = sorted({str(f).strip() for f in (flags or ()) if str(f).strip()})
    if any(len(n) > MAX_NAME for n in names):
        raise ChangeError("a flag name is over 255 characters", hint="flag keys are short names")
    shown = names[:MAX_FLAGS]
    text = ("flags changed: " + ", ".join(shown)) if shown else "flag configuration changed"
    if len(names) > MAX_FLAGS:
        text += f" and {len(names) - MAX_FLAGS} more"
    if message:
        text += f" ({str(message)[:200]})"
    data: dict[str, Any] = {"flags": shown, "provider": _name("provider", provider, required=False)}
    if len(names) > MAX_FLAGS:
        data["more_flags"] = len(names) - MAX_FLAGS
    if metadata:
        data["metadata"] = {str(k)[:64]: v for k, v in list(metadata.items())[:20] if isinstance(v, str | int | float)}
    return store.record_system_event(
        FLAG_CHANGE,
        service=_name("service", service, required=False),
        actor=_name("actor", actor, required=False),
        message=text,
        data=data,
        occurred_at=at,
    )
