"""prometheus_client multiprocess mode: directory checks, the scrape registry and gunicorn hooks.

prometheus_client reads ``PROMETHEUS_MULTIPROC_DIR`` once, when it is imported; every process then writes
its samples to mmap files in that directory, and a scrape must aggregate them through a fresh registry
with a ``MultiProcessCollector``. In ``gunicorn.conf.py``::

    from parapet.metrics.multiprocess import child_exit, on_starting  # noqa: F401

``on_starting`` (the master, before forking) empties the directory so that reused pids do not reopen old
files; ``child_exit`` removes a dead worker's live gauges.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, values
from prometheus_client import multiprocess as prom_multiprocess

from parapet.metrics.errors import MultiprocessError

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LEGACY_ENV = "prometheus_multiproc_dir"  # the deprecated name prometheus_client still reads


def configured_dir() -> Path | None:
    """The directory named by the environment, or None when multiprocess mode is off."""
    value = os.environ.get(ENV) or os.environ.get(_LEGACY_ENV)
    return Path(value) if value else None


def enabled() -> bool:
    return configured_dir() is not None


def check_dir() -> Path | None:
    """The usable multiprocess directory, None when the mode is off; MultiprocessError when it cannot work."""
    path = configured_dir()
    if path is None:
        return None
    if values.ValueClass is values.MutexValue:
        raise MultiprocessError(
            f"{ENV} is set ({path}) but prometheus_client was imported before it was, so this process keeps "
            "its metrics in memory and the scrape would miss them",
            f"set {ENV} in the environment that starts Python (Dockerfile ENV, the service manifest or the "
            "entrypoint), not from application code",
        )
    if not path.exists():
        raise MultiprocessError(
            f"{ENV} names {path}, which does not exist",
            f"create it before the server starts (mkdir -p {path}), or call "
            "parapet.metrics.multiprocess.on_starting from gunicorn.conf.py",
        )
    if not path.is_dir():
        raise MultiprocessError(f"{ENV} names {path}, which is not a directory", f"point {ENV} at an empty directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise MultiprocessError(
            f"{ENV} names {path}, which this process cannot write",
            "give the server's user write access, or mount a writable volume there (emptyDir, medium: Memory)",
        )
    return path


def scrape_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """What a scrape renders: ``registry`` alone, or every process's files aggregated in multiprocess mode."""
    path = check_dir()
    if path is None:
        return REGISTRY if registry is None else registry
    aggregated = CollectorRegistry()
    prom_multiprocess.MultiProcessCollector(aggregated, path=str(path))  # type: ignore[no-untyped-call]
    return aggregated


def wipe_dir() -> Path | None:
    """Empty (or create) the multiprocess directory; call it before any worker starts."""
    path = configured_dir()
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise MultiprocessError(f"{ENV} names {path}, which is not a directory", f"point {ENV} at an empty directory")
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return path


def on_starting(server: Any = None) -> None:
    """gunicorn hook (master, before forking): empty the multiprocess directory."""
    wipe_dir()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: forget a dead worker's live gauges (its counters and histograms are kept)."""
    path = configured_dir()
    if path is not None:
        prom_multiprocess.mark_process_dead(worker.pid, str(path))  # type: ignore[no-untyped-call]
