"""The links Parapet offers from an incident (runbook, dashboard, trace), checked the same way wherever they are
shown: the operator UI and the MCP server. Standard library only, so the MCP server needs nothing of the UI.

    safe_href(url)                   an http(s) URL to link to, or None (``javascript:`` never links)
    trace_href(template, trace_id)   the tracing UI's link for a trace id, the id percent-encoded
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def safe_href(url: object) -> str | None:
    """An http(s) URL to link to, or None (``javascript:`` and friends from alert annotations never link)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def trace_href(template: str | None, trace_id: str | None) -> str | None:
    """The tracing UI's link for a trace id: ``{trace_id}`` in the template replaced by the id, percent-encoded
    (an id from an alert's labels is anyone's text), and only when the result is an http(s) URL."""
    if not template or not trace_id:
        return None
    return safe_href(template.replace("{trace_id}", quote(trace_id, safe="")))
