"""Label names that are unbounded by nature, and words that tell a label value's story.

The table of METRICS.md lives in ``parapet.label_rules`` (ids, emails, paths, IPs, tokens, sessions, trace
and request ids); this module only adds what the static analyzer also looks for: hostnames and pods, worker
node names (Celery's ``celery@host``), users and slugs, timestamps and process ids.
"""

from __future__ import annotations

from parapet.label_rules import MAX_LABELS, unbounded_reason

__all__ = ["MAX_LABELS", "unbounded_name"]

# (exact names, suffixes, why, instead): the kinds parapet.metrics.labels does not cover.
_EXTRA: tuple[tuple[frozenset[str], tuple[str, ...], str, str], ...] = (
    (
        frozenset({"host", "hostname", "pod", "pod_name", "node_name", "container", "container_id"}),
        ("_host", "_hostname", "_pod"),
        "takes one value per machine or pod, and pods change with every deploy",
        "leave it out: Prometheus adds instance and the Kubernetes pod labels from service discovery",
    ),
    (
        frozenset({"worker", "worker_name", "worker_hostname", "nodename"}),
        ("_worker_name", "_nodename"),
        "names a worker process by its node name (Celery's celery@<hostname>), one per pod, new with every deploy",
        "label by queue or task name; count workers with a gauge, or let Prometheus's instance label tell them apart",
    ),
    (
        frozenset({"user", "username", "user_name"}),
        ("_user", "_username", "_user_name"),
        "takes one value per person (every account is a new series)",
        "use a bounded attribute of the user (plan, role, tier) or leave it to logs",
    ),
    (
        frozenset({"slug"}),
        ("_slug",),
        "takes one value per object it names (a page, post, project or tenant)",
        "use the kind of object or a bounded category; slugs belong in logs and exemplars",
    ),
    (
        frozenset({"timestamp", "ts", "time", "datetime", "date"}),
        ("_timestamp", "_ts", "_time"),
        "takes one value per moment",
        "record time as the sample value (a gauge of seconds) or a histogram of durations",
    ),
    (
        frozenset({"pid", "process_id"}),
        ("_pid",),
        "takes one value per process, and processes restart",
        "drop it: multiprocess mode already tells processes apart",
    ),
)


def unbounded_name(name: str) -> tuple[str, str] | None:
    """Why a label (or variable) named ``name`` takes unboundedly many values, and what to use instead."""
    reason = unbounded_reason(name)
    if reason is not None:
        return reason
    lowered = name.lower()
    for exact, suffixes, why, instead in _EXTRA:
        if lowered in exact or lowered.endswith(suffixes):
            return why, instead
    return None
