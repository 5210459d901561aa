"""Where an incident was announced: the incident page's "Announced" panel (``partials/notifications.html``).

    announcements(store, incident)   one line per notifier target that announced it (or tried): the target, its
                                     kind, the other side's message id, how often and when it was sent, and the
                                     last failure when it is newer than the last delivery

Read with the page's other reads (``parapet.web.ui.INCIDENT_PANELS["notifications"]``); it only reads
``parapet_notifier_messages`` and the incident's ``notify_failed`` entries, so the page shows no secret (the
outbox stores none: the failure text was masked when it was written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from starlette.routing import BaseRoute

from parapet.evidence.schema import notifier_messages, timeline_entries
from parapet.evidence.store import Incident, Store
from parapet.web.app import WebSettings

PANEL: Final = "notifications"
FAILED: Final = "notify_failed"  # parapet.notify.outbox.FAILED (not imported: the page must not need the engine)
MAX_FAILURES: Final = 50


@dataclass(frozen=True)
class Announcement:
    target: str
    kind: str
    external_id: str | None
    sends: int
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    failure: str | None = None  # the last failure's message, when it came after the last delivery
    failed_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.sends == 0 and self.failure is None


def routes(settings: WebSettings) -> Sequence[BaseRoute]:
    """The route group for ``create_app``: no route, the incident page's panel."""
    from parapet.web.ui import INCIDENT_PANELS

    INCIDENT_PANELS[PANEL] = announcements
    return []


def announcements(store: Store, incident: Incident) -> list[Announcement]:
    """The incident's announcements, by target name."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(notifier_messages)
            .where(notifier_messages.c.incident_id == incident.id)
            .order_by(notifier_messages.c.target)
        ).all()
        failures = conn.execute(
            select(timeline_entries.c.at, timeline_entries.c.message, timeline_entries.c.data)
            .where(timeline_entries.c.incident_id == incident.id, timeline_entries.c.kind == FAILED)
            .order_by(timeline_entries.c.at.desc(), timeline_entries.c.id.desc())
            .limit(MAX_FAILURES)
        ).all()
    last_failure: dict[str, tuple[datetime, str | None]] = {}
    for failure in failures:
        target = str((failure.data or {}).get("target", ""))
        last_failure.setdefault(target, (failure.at, failure.message))
    out = []
    for row in rows:
        failed = last_failure.get(row.target)
        newer = failed is not None and (row.last_sent_at is None or failed[0] > row.last_sent_at)
        out.append(
            Announcement(
                target=row.target,
                kind=row.kind,
                external_id=row.external_id,
                sends=int(row.sends),
                first_sent_at=row.first_sent_at,
                last_sent_at=row.last_sent_at,
                failure=failed[1] if failed is not None and newer else None,
                failed_at=failed[0] if failed is not None and newer else None,
            )
        )
    return out
