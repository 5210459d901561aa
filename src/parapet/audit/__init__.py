"""Audit sinks: every operator and system action mirrored outside Parapet's database.

    events   the event one action becomes (stable id, actor, action, incident, data, tool audit)
    sinks    JSON Lines file, syslog (RFC 5424), HTTP; each raises SinkUnavailable to be retried
    outbox   the hooks subscriber that writes one ``audit_sink`` job per event and sink in the transaction of
             the action, and the job handler that delivers it (retried until the sink takes it)

``build_sinks`` turns the spec's ``audit.sinks`` into sinks, reading secrets (an HTTP sink's URL or token)
from the environment or a file at that moment; they are never stored or printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from parapet.audit.sinks import HttpSink, JsonLinesSink, Sink, SinkUnavailable, SyslogSink
from parapet.spec.model import AuditSettings, AuditSinkSettings

__all__ = ["SinkUnavailable", "build_sink", "build_sinks", "secret_problem"]


def _secret(env: str | None, file: Path | None) -> str | None:
    if env is not None:
        return os.environ.get(env) or None
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    return None


def secret_problem(sink: AuditSinkSettings) -> str | None:
    """Why the sink's secret cannot be read (for ``parapet doctor``), naming where it should be; None when
    fine. The secret itself is never part of the answer."""
    if sink.url_env is not None and not os.environ.get(sink.url_env):
        return f"audit sink {sink.name}: environment variable {sink.url_env} (its URL) is not set"
    if sink.url_file is not None and _secret(None, sink.url_file) is None:
        return f"audit sink {sink.name}: {sink.url_file} (its URL) is missing, unreadable or empty"
    if sink.token_env is not None and not os.environ.get(sink.token_env):
        return f"audit sink {sink.name}: environment variable {sink.token_env} (its token) is not set"
    if sink.token_file is not None and _secret(None, sink.token_file) is None:
        return f"audit sink {sink.name}: {sink.token_file} (its token) is missing, unreadable or empty"
    return None


def build_sink(sink: AuditSinkSettings) -> Sink:
    """The sink for one ``audit.sinks`` entry; raises SinkUnavailable when its secret is not readable now
    (the event waits in the outbox until it is)."""
    if sink.kind == "jsonl":
        assert sink.path is not None  # the spec requires it
        return JsonLinesSink(sink.name, sink.path)
    if sink.kind == "syslog":
        assert sink.address is not None
        return SyslogSink(sink.name, sink.address, facility=sink.facility)
    problem = secret_problem(sink)
    if problem is not None:
        raise SinkUnavailable(problem)
    url = sink.url or _secret(sink.url_env, sink.url_file)
    assert url is not None
    return HttpSink(sink.name, url, token=_secret(sink.token_env, sink.token_file), headers=dict(sink.headers))


def build_sinks(settings: AuditSettings) -> dict[str, AuditSinkSettings]:
    """The configured sinks by name (built one at a time when delivering, so a secret is read fresh)."""
    return {sink.name: sink for sink in settings.sinks}
