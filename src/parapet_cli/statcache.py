"""A per-file cache keyed by stat, then by content: a file unchanged since the last run is not even read.

    cache = StatCache.load("doctor", root, key)    one JSON file per (name, repository); key: what shapes values
    cache.by_stat(rel, st) / cache.by_digest(rel, digest, st) -> Found | None
    cache.put(rel, st, digest, value)              value: anything JSON can hold
    cache.save()                                   writes only when something changed

One JSON file per repository and name in ``$PARAPET_CACHE_DIR`` (default ``$XDG_CACHE_HOME/parapet``, else
``~/.cache/parapet``), never inside the repository. JSON rather than pickle, so a cache restored from a shared CI
store cannot run code. Each entry holds the file's stat (size, mtime, ctime, inode), the SHA-256 of its bytes, and
the caller's value.

A file whose stat is what the entry says is taken as it was, without reading it (git's index does the same). The
stat includes ctime, which no tool can set back, and a file changed within ``RACY_NS`` of the run that recorded it
keeps no stat (its next change could leave the same mtime and size behind), so it is hashed next time. A file whose
stat differs (a fresh clone, ``touch``) is read and hashed, and its value is still reused when the digest is the
entry's. The whole cache is dropped when its key changes. A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

# A file changed this close to (or after) the start of the run that saw it is hashed again next time.
RACY_NS = 2_000_000_000


def cache_dir() -> Path:
    explicit = os.environ.get("PARAPET_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parapet"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Stat(NamedTuple):
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True)
class Found:
    """An entry that still holds, with its value (decoded by the caller's function)."""

    value: Any


class Entry(NamedTuple):
    stat: Stat | None
    digest: str
    value: Any


def _same(value: Any) -> Any:
    return value


class StatCache:
    def __init__(
        self, path: Path, key: str, entries: dict[str, Entry], started_ns: int, root: Path, racy_ns: int = RACY_NS
    ) -> None:
        self.path = path
        self.root = root
        self.key = key
        self.old = entries
        self.new: dict[str, Entry] = {}
        self.started_ns = started_ns
        self.racy_ns = racy_ns
        self.changed = False
        self.hits = 0  # entries whose (non-null) value was reused
        self.reads = 0  # files that had to be read (and hashed) because their stat changed

    @classmethod
    def load(cls, name: str, root: Path, key: str, *, racy_ns: int | None = None) -> StatCache:
        started = time.time_ns()
        tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        path = cache_dir() / f"{name}-{tag}.json"
        entries: dict[str, Entry] = {}
        try:
            body = json.loads(path.read_bytes())
            if isinstance(body, dict) and body.get("key") == key:
                for rel, (stat, hexdigest, value) in body["files"].items():
                    entries[rel] = Entry(None if stat is None else Stat(*stat), str(hexdigest), value)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        return cls(path, key, entries, started, root, RACY_NS if racy_ns is None else racy_ns)

    def _hit(self, rel: str, entry: Entry, stat: Stat | None, decode: Callable[[Any], Any]) -> Found | None:
        value = None
        if entry.value is not None:
            try:
                value = decode(entry.value)
            except (KeyError, TypeError, ValueError):
                return None
            self.hits += 1
        kept = entry if stat is None else entry._replace(stat=self._trusted(stat))
        if kept != entry:
            self.changed = True
        self.new[rel] = kept
        return Found(value)

    def by_stat(self, rel: str, st: os.stat_result, decode: Callable[[Any], Any] = _same) -> Found | None:
        """The value of ``rel`` if the file's stat is the recorded one (nothing needs reading)."""
        entry = self.old.get(rel)
        if entry is None or entry.stat is None or entry.stat != Stat.of(st):
            return None
        return self._hit(rel, entry, None, decode)

    def by_digest(
        self, rel: str, hexdigest: str, st: os.stat_result, decode: Callable[[Any], Any] = _same
    ) -> Found | None:
        """The value of ``rel`` if its bytes are the recorded ones; the new stat is remembered."""
        self.reads += 1
        entry = self.old.get(rel)
        if entry is None or entry.digest != hexdigest:
            return None
        return self._hit(rel, entry, Stat.of(st), decode)

    def put(self, rel: str, st: os.stat_result, hexdigest: str, value: Any) -> None:
        self.changed = True
        self.new[rel] = Entry(self._trusted(Stat.of(st)), hexdigest, value)

    def _trusted(self, stat: Stat) -> Stat | None:
        """``stat``, unless the file changed so recently that a later change might leave the same stat behind."""
        if max(stat.mtime_ns, stat.ctime_ns) >= self.started_ns - self.racy_ns:
            return None
        return stat

    def save(self) -> None:
        """Write the entries of this run, and those of files it did not look at that still exist, if anything
        changed."""
        entries = dict(self.new)
        for rel, entry in self.old.items():
            if rel not in entries and os.path.isfile(os.path.join(self.root, rel)):  # noqa: PTH113, PTH118
                entries[rel] = entry
        if not self.changed and entries.keys() == self.old.keys():
            return
        if not entries and not self.path.exists():
            return  # nothing to remember: leave no file behind
        body = {"key": self.key, "files": {rel: [e.stat, e.digest, e.value] for rel, e in sorted(entries.items())}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(body, out, separators=(",", ":"))
                Path(tmp).replace(self.path)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return
