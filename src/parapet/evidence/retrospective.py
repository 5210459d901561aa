"""The retrospective of one incident, as Markdown an operator copies into a review or downloads.

    render(incident, entries, changes)   a document: summary, durations, actors, suspect changes, timeline

Durations come from the timeline, so a reopened incident still counts from its opening: time to
acknowledge is the first acknowledgement, time to resolve the last resolution (absent while it is active).
Every piece of user or alert text is escaped for Markdown and kept on one line, so a label value can
neither break the tables nor inject a link or HTML into the document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from parapet.evidence.store import Incident, SystemEvent, TimelineEntry

SYSTEM_PREFIX: Final = "system:"
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_SPACE = re.compile(r"\s+")


def md(text: object) -> str:
    """One line of escaped Markdown: backslash before punctuation that means something, newlines folded."""
    return _SPECIAL.sub(r"\\\1", _SPACE.sub(" ", str(text)).strip())


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(delta: timedelta) -> str:
    """``3h 07m 12s``, ``4m 05s``, ``12s``."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def durations(incident: Incident, entries: Sequence[TimelineEntry]) -> dict[str, timedelta | None]:
    """Time to acknowledge (first acknowledgement), to resolve (last resolution, if resolved now)."""
    acks = [e.at for e in entries if e.kind == "acknowledged"]
    resolutions = [e.at for e in entries if e.kind == "resolved"]
    to_ack = min(acks) if acks else incident.acknowledged_at
    to_resolve: datetime | None = None
    if incident.state == "resolved":
        to_resolve = max(resolutions) if resolutions else incident.resolved_at
    return {
        "acknowledge": to_ack - incident.opened_at if to_ack else None,
        "resolve": to_resolve - incident.opened_at if to_resolve else None,
    }


def render(incident: Incident, entries: Sequence[TimelineEntry], changes: Sequence[SystemEvent] = ()) -> str:
    """The retrospective as Markdown (``entries`` in any order; they are sorted by time)."""
    ordered = sorted(entries, key=lambda e: (e.at, e.id))
    spans = durations(incident, ordered)
    lines = [f"# Incident {incident.id}: {md(incident.title)}", ""]
    facts = [
        ("State", incident.state),
        ("Severity", incident.severity),
        ("Service", incident.service or "-"),
        ("SLO", incident.slo or "-"),
        ("Alert", incident.alert_name),
        ("Correlation key", incident.correlation_key),
        ("Opened", f"{when(incident.opened_at)} by {incident.opened_by}"),
    ]
    if incident.resolved_at and incident.resolved_by:
        facts.append(("Resolved", f"{when(incident.resolved_at)} by {incident.resolved_by}"))
    ack, res = spans["acknowledge"], spans["resolve"]
    facts.append(("Time to acknowledge", duration(ack) if ack is not None else "not acknowledged"))
    facts.append(("Time to resolve", duration(res) if res is not None else "not resolved"))
    facts.append(("Alert occurrences", str(incident.occurrence_count)))
    lines += [f"- **{name}:** {md(value)}" for name, value in facts]
    if incident.summary:
        lines += ["", "## Summary", "", md(incident.summary)]
    if incident.labels:
        lines += ["", "## Labels", ""]
        lines += [f"- `{_code(k)}`: {md(v)}" for k, v in sorted(incident.labels.items())]
    actors: dict[str, list[str]] = {}
    for entry in ordered:
        kinds = actors.setdefault(entry.actor, [])
        if entry.kind not in kinds:
            kinds.append(entry.kind)
    lines += ["", "## Actors", "", "| actor | kind | did |", "|---|---|---|"]
    for actor, kinds in actors.items():
        kind = "system" if actor.startswith(SYSTEM_PREFIX) else "person"
        lines.append(f"| {md(actor)} | {kind} | {md(', '.join(kinds))} |")
    if changes:
        lines += [
            "",
            "## Suspect changes (deploys and flag changes before opening)",
            "",
            "| time | kind | service | what |",
        ]
        lines.append("|---|---|---|---|")
        for change in sorted(changes, key=lambda c: (c.occurred_at, c.id)):
            what = change.message or ""
            lines.append(
                f"| {when(change.occurred_at)} | {md(change.kind)} | {md(change.service or '-')} | {md(what)} |"
            )
    lines += ["", "## Timeline", "", "| time | after opening | actor | what | detail |", "|---|---|---|---|---|"]
    for entry in ordered:
        offset = duration(entry.at - incident.opened_at)
        detail = md(entry.message) if entry.message else ""
        lines.append(f"| {when(entry.at)} | +{offset} | {md(entry.actor)} | {md(entry.kind)} | {detail} |")
    return "\n".join(lines) + "\n"


def _code(text: object) -> str:
    return _SPACE.sub(" ", str(text)).replace("`", "'")
